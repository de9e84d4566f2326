import { describe, expect, it } from 'vitest';
import {
  dataDirAclArgs,
  DEFAULT_ADMIN_SIDS,
  isSid,
  PIPE_NAME_PATTERN,
  pipeDaclCommand,
  pipeSecurityDescriptor,
  sidFromWhoami,
  WELL_KNOWN_SIDS,
} from '../../src/shared/windowsAcl';

const USER = 'S-1-5-21-3623811015-3361044348-30300820-1013';

describe('Windows ACL builders (pure; applied on Windows only)', () => {
  it('pipe descriptor: a protected DACL with Generic All for the user and each group, nothing for Everyone', () => {
    expect(pipeSecurityDescriptor(USER)).toBe(`D:P(A;;GA;;;${USER})`);
    expect(pipeSecurityDescriptor(USER, DEFAULT_ADMIN_SIDS)).toBe(
      `D:P(A;;GA;;;${USER})(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)`,
    );
    // The host running as SYSTEM (a service): one entry, not two.
    expect(pipeSecurityDescriptor(WELL_KNOWN_SIDS.system, DEFAULT_ADMIN_SIDS)).toBe(
      'D:P(A;;GA;;;S-1-5-18)(A;;GA;;;S-1-5-32-544)',
    );
    const sddl = pipeSecurityDescriptor(USER, DEFAULT_ADMIN_SIDS);
    expect(sddl).not.toMatch(/WD|AN|S-1-1-0|S-1-5-7/);
  });

  it('refuses anything but a SID, so nothing can be injected into the SDDL or the icacls arguments', () => {
    for (const bad of [
      '',
      'alice',
      'WD',
      `${USER})(A;;GA;;;WD`,
      `${USER}:(OI)(CI)F`,
      'S-1-5',
      'S-1-x-2',
      `S-1-5-21-${'1-'.repeat(20)}1`,
    ]) {
      expect(isSid(bad), bad).toBe(false);
      expect(() => pipeSecurityDescriptor(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      expect(() => dataDirAclArgs('C:\\ProgramData\\OpenIR', USER, [bad])).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
    }
    expect(isSid(USER)).toBe(true);
  });

  it('data directory: inheritance removed, Full control inherited by files and folders for the user and the groups, by SID', () => {
    expect(dataDirAclArgs('C:\\ProgramData\\OpenIR', USER, DEFAULT_ADMIN_SIDS)).toEqual([
      'C:\\ProgramData\\OpenIR',
      '/inheritance:r',
      '/grant:r',
      `*${USER}:(OI)(CI)F`,
      '*S-1-5-18:(OI)(CI)F',
      '*S-1-5-32-544:(OI)(CI)F',
      '/Q',
    ]);
    expect(() => dataDirAclArgs('C:\\x" /grant *S-1-1-0:F', USER)).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    expect(() => dataDirAclArgs('', USER)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it("reads the user's SID from whoami's CSV, and refuses output without one", () => {
    expect(sidFromWhoami(`"desktop-7\\alice","${USER}"\r\n`)).toBe(USER);
    expect(sidFromWhoami('"nt authority\\system","S-1-5-18"')).toBe('S-1-5-18');
    expect(() => sidFromWhoami('ERROR: Access is denied.')).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    );
  });

  it('the PowerShell command sets exactly the descriptor on exactly the pipe, and takes nothing else', () => {
    const pipe = `\\\\.\\pipe\\openir-${'ab'.repeat(16)}`;
    expect(PIPE_NAME_PATTERN.test(pipe)).toBe(true);
    const sddl = pipeSecurityDescriptor(USER, DEFAULT_ADMIN_SIDS);
    const args = pipeDaclCommand(pipe, sddl);
    expect(args.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-EncodedCommand']);
    const script = Buffer.from(args[3] ?? '', 'base64').toString('utf16le');
    expect(script).toContain(`NamedPipeClientStream('.', 'openir-${'ab'.repeat(16)}',`);
    expect(script).toContain(`SetSecurityDescriptorSddlForm('${sddl}')`);
    expect(script).toContain('$pipe.SetAccessControl($security)');
    for (const [name, descriptor] of [
      ['\\\\.\\pipe\\evil', sddl],
      [`${pipe}'); Remove-Item C:\\ -Recurse; ('`, sddl],
      [pipe, 'D:P(A;;GA;;;WD)'],
      [pipe, `${sddl}'); whoami; ('`],
    ] as const) {
      expect(() => pipeDaclCommand(name, descriptor)).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
    }
  });
});
