import { OpenIrError } from './errors';

/*
 * Windows access control for the host's local endpoints, as pure builders:
 * the security descriptor (SDDL) of the local API's named pipe and the
 * `icacls` arguments that lock the data directory. Pure so they are tested
 * on any platform; src/core runs them on Windows only.
 */

/** Well-known SIDs (the same on every Windows machine and in every language). */
export const WELL_KNOWN_SIDS = {
  /** NT AUTHORITY\SYSTEM: services and the OS itself. */
  system: 'S-1-5-18',
  /** BUILTIN\Administrators: the machine's admin group, Windows' counterpart of root and the Linux `openir` group. */
  administrators: 'S-1-5-32-544',
} as const;

/** Who may use the host's local API and data directory besides its own user. */
export const DEFAULT_ADMIN_SIDS: readonly string[] = [WELL_KNOWN_SIDS.system, WELL_KNOWN_SIDS.administrators];

/** A SID in string form (S-1-5-21-…); nothing else reaches an SDDL string or an icacls argument. */
export function isSid(value: string): boolean {
  return value.length <= 184 && /^S-1-\d{1,13}(-\d{1,10}){1,15}$/.test(value);
}

function checkedSids(userSid: string, groupSids: readonly string[]): string[] {
  const all = [userSid, ...groupSids];
  const bad = all.find((sid) => !isSid(sid));
  if (bad !== undefined) {
    throw new OpenIrError('INVALID_INPUT', `'${bad.slice(0, 80)}' is not a Windows SID (S-1-…).`, {
      fix: 'Pass SIDs as `whoami /user` prints them.',
    });
  }
  // The user first, each SID once: a user who is also listed as a group gets one entry.
  return [...new Set(all)];
}

/**
 * The pipe's security descriptor: a protected DACL (`P`: nothing inherited
 * widens it) with one Generic All entry per SID, so only the host's user and
 * the given groups may open it; Everyone and ANONYMOUS LOGON, which Windows'
 * default pipe DACL lets read, get nothing.
 */
export function pipeSecurityDescriptor(userSid: string, groupSids: readonly string[] = []): string {
  return `D:P${checkedSids(userSid, groupSids)
    .map((sid) => `(A;;GA;;;${sid})`)
    .join('')}`;
}

/**
 * `icacls` arguments that give the data directory exactly these owners: the
 * inherited entries (ProgramData lets every user read and create) are
 * removed, and each SID gets Full control inherited by every file and folder
 * below (`(OI)(CI)`). SIDs are passed as `*S-1-…`, so no account name is
 * looked up and a localized group name cannot break it. One argv, no shell.
 */
export function dataDirAclArgs(dir: string, userSid: string, groupSids: readonly string[] = []): string[] {
  if (dir.length === 0 || /["\0\r\n]/.test(dir)) {
    throw new OpenIrError(
      'INVALID_INPUT',
      'The data directory path is empty or has quotes or control characters.',
      {
        fix: 'Set OPENIR_HOME to a plain folder path.',
      },
    );
  }
  return [
    dir,
    '/inheritance:r',
    '/grant:r',
    ...checkedSids(userSid, groupSids).map((sid) => `*${sid}:(OI)(CI)F`),
    '/Q',
  ];
}

/** The current user's SID from `whoami /user /fo csv /nh` ("machine\\user","S-1-5-21-…"). */
export function sidFromWhoami(output: string): string {
  const match = /"([^"]*)"\s*$/.exec(output.trim());
  const sid = match?.[1] ?? '';
  if (!isSid(sid)) {
    throw new OpenIrError('INTERNAL', "Could not read the current user's SID from `whoami /user`.", {
      fix: 'Check that whoami.exe (in System32) runs for this user.',
    });
  }
  return sid;
}

/** The local API's pipe: `\\.\pipe\openir-` and 32 random hex digits, never derived from anything. */
export const PIPE_NAME_PATTERN = /^\\\\\.\\pipe\\openir-[0-9a-f]{32}$/;

/**
 * Windows PowerShell arguments that set `sddl` on the pipe `pipeName` (which
 * this process serves) and print the DACL Windows kept. Node cannot pass a
 * security descriptor when it creates a pipe (nodejs/node#47086), but a
 * pipe's DACL is one for all its instances and its creator may change it:
 * PowerShell opens one client handle with ChangePermissions and sets it
 * through .NET's PipeSecurity, as libuv's own uv_pipe_chmod does from inside.
 * Both inputs are checked, so nothing else can reach the script.
 */
export function pipeDaclCommand(pipeName: string, sddl: string): string[] {
  if (!PIPE_NAME_PATTERN.test(pipeName) || !/^D:P(\(A;;GA;;;S-1-[0-9-]+\))+$/.test(sddl)) {
    throw new OpenIrError('INVALID_INPUT', 'Not an OpenIR pipe name or pipe security descriptor.', {
      fix: 'Build them with PIPE_NAME_PATTERN and pipeSecurityDescriptor.',
    });
  }
  const shortName = pipeName.slice('\\\\.\\pipe\\'.length);
  const script = [
    "$ErrorActionPreference = 'Stop'",
    `$pipe = New-Object System.IO.Pipes.NamedPipeClientStream('.', '${shortName}', [System.IO.Pipes.PipeAccessRights]'ReadWrite, ChangePermissions', [System.IO.Pipes.PipeOptions]::None, [System.Security.Principal.TokenImpersonationLevel]::Identification, [System.IO.HandleInheritability]::None)`,
    '$pipe.Connect(10000)',
    'try {',
    '  $security = New-Object System.IO.Pipes.PipeSecurity',
    `  $security.SetSecurityDescriptorSddlForm('${sddl}')`,
    '  $pipe.SetAccessControl($security)',
    "  $pipe.GetAccessControl().GetSecurityDescriptorSddlForm('Access')",
    '} finally { $pipe.Dispose() }',
  ].join('\n');
  // -EncodedCommand (UTF-16LE, base64): the script reaches PowerShell as written, with no command-line quoting.
  return ['-NoProfile', '-NonInteractive', '-EncodedCommand', utf16leBase64(script)];
}

/** Base64 of UTF-16LE without Buffer (src/shared has no node:*). */
function utf16leBase64(text: string): string {
  let binary = '';
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    binary += String.fromCharCode(unit & 0xff, unit >> 8);
  }
  return btoa(binary);
}
