import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSftpSession, type SftpSession } from '../../src/core/jobs/sftpClient';
import { freePort } from './node';

/**
 * A real OpenSSH server (Debian's `openssh-server`) for tests: `sshd -D -e -f
 * <private config>` on a free loopback port, with its own host key made by
 * ssh-keygen, password and public-key sign-in, and the SFTP subsystem. It
 * signs in one dedicated user, `openir-sftp-test`, created when missing
 * (useradd, as root) with a random password (chpasswd): sshd checks passwords
 * against /etc/shadow, so it runs as root and the user must exist. The user is
 * one for the machine, so its password is too (testUserPassword): a fresh one
 * per server changed it under the suites that run at the same time and their
 * jobs failed with SFTP_AUTH_FAILED. Files of a test go under `root`, a temp
 * folder the user owns.
 */

export const SFTP_TEST_USER = 'openir-sftp-test';

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

/** Whether the tests can run here, or the reason to print when they cannot. */
export function findSshd(): { found: true } | { found: false; reason: string } {
  if (!which('sshd') || !which('ssh-keygen'))
    return {
      found: false,
      reason: 'no sshd: install OpenSSH (apt-get install -y openssh-server openssh-client)',
    };
  if (process.getuid?.() !== 0)
    return { found: false, reason: 'the SFTP tests run sshd as root (it checks passwords in /etc/shadow)' };
  return { found: true };
}

export interface RunningSshd {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The folder jobs read and write in, owned by the test user. */
  root: string;
  /** A private key (OpenSSH format, no passphrase) whose public half the server accepts, and one with a passphrase. */
  keyFile: string;
  passphraseKeyFile: string;
  passphrase: string;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  hostKeyFile: string;
  /** sshd's log so far (`-e`: to stderr). */
  log(): string;
  stop(): Promise<void>;
}

const started = new Set<RunningSshd>();

function ensureUser(password: string): void {
  try {
    execFileSync('id', ['-u', SFTP_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--home-dir', '/tmp', '--shell', '/bin/sh', SFTP_TEST_USER]);
  }
  execFileSync('chpasswd', [], { input: `${SFTP_TEST_USER}:${password}\n` });
}

/** `SHA256:…` of a key file, from ssh-keygen -lf itself. */
export function fingerprintOfKeyFile(file: string): string {
  const line = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
  const match = /(SHA256:[A-Za-z0-9+/]{43})/.exec(line);
  if (!match) throw new Error(`ssh-keygen -lf printed no fingerprint: ${line}`);
  return match[1] as string;
}

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'openir-test', '-f', file]);
}

/**
 * The test user's password, the same for every server on this machine: made
 * once (O_EXCL, so concurrent suites agree on one) in a root-only file.
 */
function testUserPassword(): string {
  const file = path.join(os.tmpdir(), `${SFTP_TEST_USER}.password`);
  try {
    fs.writeFileSync(file, `pw-${randomBytes(12).toString('hex')}`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (let tries = 0; ; tries += 1) {
    const password = fs.readFileSync(file, 'utf8');
    // Another suite may have made the file an instant ago and not yet written it.
    if (/^pw-[0-9a-f]{24}$/.test(password) || tries > 100) return password;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

/** `extraConfig`: more sshd_config lines, e.g. `RekeyLimit 1M` to have the server rekey often. */
export async function startSshd(extraConfig: string[] = []): Promise<RunningSshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-sshd-'));
  fs.chmodSync(dir, 0o755);
  const password = testUserPassword();
  ensureUser(password);
  const uid = Number(execFileSync('id', ['-u', SFTP_TEST_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', SFTP_TEST_USER], { encoding: 'utf8' }).trim());
  const root = path.join(dir, 'files');
  fs.mkdirSync(root);
  fs.chownSync(root, uid, gid);
  const hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
  keygen(hostKeyFile);
  const keyFile = path.join(dir, 'client_key');
  keygen(keyFile);
  const passphrase = `pp-${randomBytes(8).toString('hex')}`;
  const passphraseKeyFile = path.join(dir, 'client_key_pp');
  keygen(passphraseKeyFile, passphrase);
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(
    authorized,
    fs.readFileSync(`${keyFile}.pub`, 'utf8') + fs.readFileSync(`${passphraseKeyFile}.pub`, 'utf8'),
    { mode: 0o644 },
  );
  // sshd refuses to start without its privilege separation folder (made by the service unit normally).
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin no',
      `AllowUsers ${SFTP_TEST_USER}`,
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      // Many quick connections in a test run are not an attack.
      'MaxStartups 100',
      ...extraConfig,
      '',
    ].join('\n'),
  );
  let log = '';
  const child: ChildProcess = spawn(which('sshd') as string, ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${log}`);
    await sleep(100);
  }
  const running: RunningSshd = {
    host: '127.0.0.1',
    port,
    user: SFTP_TEST_USER,
    password,
    root,
    keyFile,
    passphraseKeyFile,
    passphrase,
    fingerprint: fingerprintOfKeyFile(`${hostKeyFile}.pub`),
    hostKeyFile,
    log: () => log,
    async stop() {
      started.delete(running);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  started.add(running);
  return running;
}

export async function stopAllSshd(): Promise<void> {
  await Promise.all([...started].map((s) => s.stop()));
}

/**
 * `openir credential set <name> --type sftp …` for this server (its address, user and root), then
 * `extra`: the sign-in (`--secret-stdin` or `--private-key-file …`) and the host key flags.
 */
export function sftpCredentialArgs(
  name: string,
  server: Pick<RunningSshd, 'host' | 'port' | 'user' | 'root'>,
  extra: readonly string[],
  port = server.port,
): string[] {
  return [
    'credential',
    'set',
    name,
    '--type',
    'sftp',
    '--host',
    server.host,
    '--port',
    String(port),
    '--user',
    server.user,
    '--root',
    server.root,
    ...extra,
  ];
}

/** A password session to the test sshd, pinned to its host key: the SFTP client the jobs use. */
export function signInSftp(server: RunningSshd): Promise<SftpSession> {
  return openSftpSession({
    name: 'test-sshd',
    type: 'sftp',
    host: server.host,
    port: server.port,
    user: server.user,
    root: server.root,
    hostKey: server.fingerprint,
    auth: 'password',
    password: server.password,
  } as Parameters<typeof openSftpSession>[0]);
}
