import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { OpenIrError } from '../shared/errors';
import {
  dataDirAclArgs,
  DEFAULT_ADMIN_SIDS,
  PIPE_NAME_PATTERN,
  pipeDaclCommand,
  pipeSecurityDescriptor,
  sidFromWhoami,
} from '../shared/windowsAcl';
import { writeFileAtomic } from './atomicFile';
import type { SourceLogger } from './logger';
import type { DataPaths } from './paths';

const run = promisify(execFile);

/**
 * Where the CLI reaches the host. A Unix socket has a fixed path in the
 * 0700 run folder. A Windows named pipe lives in one machine-wide namespace
 * that any user may create names in, so its name is random, new at every
 * host start, and recorded in the data directory: a program cannot create
 * the pipe before the host does and catch the CLI's requests (and their
 * secrets), because it cannot know the name in advance.
 */
export function localEndpoint(paths: DataPaths, platform: NodeJS.Platform = process.platform): string {
  if (platform !== 'win32') return paths.socket;
  let recorded: string;
  try {
    recorded = fs.readFileSync(paths.pipeNameFile, 'utf8').trim();
  } catch {
    throw hostNotRunning();
  }
  // Anything else (an edited or damaged file) is never connected to.
  if (!PIPE_NAME_PATTERN.test(recorded)) throw hostNotRunning();
  return recorded;
}

export function newPipeName(): string {
  return `\\\\.\\pipe\\openir-${randomBytes(16).toString('hex')}`;
}

/**
 * The pipe that only says "a host runs for this data directory": one host per
 * directory, as the fixed socket path gives on Unix. Derived from the path
 * (case-insensitive, as Windows paths are), and never connected to: a program
 * that takes the name first only keeps the host from starting, it receives
 * nothing.
 */
export function lockPipeName(home: string): string {
  const id = createHash('sha256').update(path.win32.resolve(home).toLowerCase()).digest('hex').slice(0, 32);
  return `\\\\.\\pipe\\openir-lock-${id}`;
}

/** Listens on `endpoint` as a lock, or throws HOST_ALREADY_RUNNING if something holds it. */
export async function holdLock(endpoint: string, home: string): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(endpoint, () => resolve());
    });
  } catch (error) {
    server.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw hostAlreadyRunning(home);
    throw error;
  }
  return server;
}

/** The pipe the last host of this data directory recorded, or null. */
export function recordedPipeName(paths: DataPaths): string | null {
  try {
    return localEndpoint(paths, 'win32');
  } catch {
    return null;
  }
}

export function recordPipeName(paths: DataPaths, name: string, groupAccess: boolean): Promise<void> {
  return writeFileAtomic(paths.pipeNameFile, `${name}\n`, groupAccess ? 0o640 : 0o600);
}

/** Removes the record if it still names `name` (a newer host may have replaced it). */
export async function forgetPipeName(paths: DataPaths, name: string): Promise<void> {
  if (recordedPipeName(paths) === name) await fs.promises.rm(paths.pipeNameFile, { force: true });
}

/** True when something answers on `endpoint` (a live host, since only its user can write the record). */
export function answers(endpoint: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(endpoint);
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Another host owns this data directory. */
export function hostAlreadyRunning(home: string): OpenIrError {
  return new OpenIrError('HOST_ALREADY_RUNNING', `An OpenIR host is already running for ${home}.`, {
    fix: 'Use `openir status`, or stop the other host first.',
  });
}

/** Nothing serves this data directory's local API. */
export function hostNotRunning(): OpenIrError {
  return new OpenIrError('HOST_NOT_RUNNING', 'The OpenIR host is not running for this data directory.', {
    fix: 'Start it with `openir start` (background) or `openir serve` (foreground).',
  });
}

/** The current Windows user's SID. */
async function currentUserSid(): Promise<string> {
  const { stdout } = await run('whoami', ['/user', '/fo', 'csv', '/nh'], {
    windowsHide: true,
    timeout: 15_000,
  });
  return sidFromWhoami(stdout);
}

/**
 * Windows only: the data directory's ACL becomes the host's user, SYSTEM and
 * Administrators, with nothing inherited (ProgramData lets every user read).
 * A failure is logged and the host goes on: the files with secrets are
 * encrypted by the vault either way.
 */
export async function restrictDataDirectory(home: string, log: SourceLogger): Promise<void> {
  try {
    const args = dataDirAclArgs(path.resolve(home), await currentUserSid(), DEFAULT_ADMIN_SIDS);
    await run('icacls', args, { windowsHide: true, timeout: 60_000 });
    log.info('Data directory restricted to this user, SYSTEM and Administrators (icacls).', {
      dataDir: home,
    });
  } catch (error) {
    log.warn(
      `Could not restrict the data directory's ACL with icacls: ${(error as Error).message}. It keeps the permissions it inherits.`,
      { dataDir: home },
    );
  }
}

/**
 * Windows only: the local API pipe's DACL becomes the host's user, SYSTEM and
 * Administrators. Node creates the pipe with Windows' default DACL (full
 * control for the creator, SYSTEM and Administrators; read for Everyone and
 * ANONYMOUS LOGON), so this narrows it after the fact; a failure is logged
 * and leaves that default, where other users can open the pipe only to read
 * and so cannot send a request.
 */
export async function restrictPipe(pipeName: string, log: SourceLogger): Promise<void> {
  try {
    const sddl = pipeSecurityDescriptor(await currentUserSid(), DEFAULT_ADMIN_SIDS);
    const { stdout } = await run('powershell.exe', pipeDaclCommand(pipeName, sddl), {
      windowsHide: true,
      timeout: 60_000,
    });
    log.info('Local API pipe restricted to this user, SYSTEM and Administrators.', { dacl: stdout.trim() });
  } catch (error) {
    log.warn(
      `Could not set the local API pipe's DACL: ${(error as Error).message}. It keeps Windows' default DACL, where other users may open it for reading only.`,
    );
  }
}
