import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { isTransient } from '../../src/core/jobs/retry';
import { SftpWriter } from '../../src/core/jobs/sftp';
import {
  fingerprintOf,
  openSftpSession,
  sftpFailure,
  sftpPathUnder,
  SFTP_STATUS,
} from '../../src/core/jobs/sftpClient';
import net from 'node:net';
import { FileVault } from '../../src/core/vault';
import { CredentialInputSchema } from '../../src/shared/credentials';
import { OpenIrError } from '../../src/shared/errors';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

const HOST_KEY = `SHA256:${'a'.repeat(43)}`;
const PASSWORD = 'sftp-test-password-1234';
const KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-test-key-body\n-----END OPENSSH PRIVATE KEY-----\n';
const PASSPHRASE = 'sftp-test-passphrase-5678';
const base = {
  name: 'drop',
  type: 'sftp',
  host: 'files.corp',
  port: 22,
  user: 'exports',
  root: '/srv/drop',
  hostKey: HOST_KEY,
} as const;

function nodeStore(origin: string) {
  const home = tempDir('openir-sftpcred-');
  const vault = new FileVault(path.join(home, 'vault'));
  return { home, store: new CredentialStore({ dataDir: home, vault, origin: () => origin }) };
}

const credential = {
  ...base,
  auth: 'password' as const,
  password: PASSWORD,
};

describe('sftp credentials', () => {
  it('needs a pinned SHA256 host key and refuses ".." in the root', () => {
    const { hostKey: _omitted, ...withoutKey } = { ...base, auth: 'password' };
    expect(CredentialInputSchema.safeParse(withoutKey).success).toBe(false);
    expect(CredentialInputSchema.safeParse({ ...base, auth: 'password', hostKey: 'MD5:aa:bb' }).success).toBe(
      false,
    );
    expect(CredentialInputSchema.safeParse({ ...base, auth: 'password', root: '/srv/../etc' }).success).toBe(
      false,
    );
    expect(
      CredentialInputSchema.parse({ ...base, auth: 'password', port: undefined, root: undefined }),
    ).toMatchObject({
      port: 22,
      root: '/',
    });
  });

  it('keeps the key and passphrase in the vault, keeps them on an update without them, and syncs to a peer', async () => {
    const one = nodeStore('node-1');
    const view = await one.store.set({
      ...base,
      auth: 'privateKey',
      privateKey: KEY,
      passphrase: PASSPHRASE,
    });
    expect(view).toMatchObject({ type: 'sftp', auth: 'privateKey', hostKey: HOST_KEY, hasSecret: true });
    for (const secret of [KEY.split('\n')[1] as string, PASSPHRASE])
      expect(filesContaining(one.home, secret)).toEqual([]);
    await one.store.set({ ...base, auth: 'privateKey', user: 'other' });
    await expect(one.store.resolve('drop', ['sftp'])).resolves.toMatchObject({
      user: 'other',
      privateKey: KEY,
      passphrase: PASSPHRASE,
    });
    const two = nodeStore('node-2');
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual(['drop']);
    await expect(two.store.resolve('drop', ['sftp'])).resolves.toMatchObject({
      type: 'sftp',
      hostKey: HOST_KEY,
      privateKey: KEY,
      passphrase: PASSPHRASE,
    });
    expect(fs.readFileSync(path.join(two.home, 'credentials.json'), 'utf8')).not.toContain(PASSPHRASE);
  });

  it('a new key drops the old passphrase; another sign-in kind needs its own secret', async () => {
    const one = nodeStore('node-1');
    await one.store.set({ ...base, auth: 'privateKey', privateKey: KEY, passphrase: PASSPHRASE });
    await one.store.set({ ...base, auth: 'privateKey', privateKey: `${KEY}\n` });
    const resolved = await one.store.resolve('drop', ['sftp']);
    expect(resolved).not.toHaveProperty('passphrase');
    await expect(one.store.set({ ...base, auth: 'password' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await one.store.set(credential);
    const switched = await one.store.resolve('drop', ['sftp']);
    expect(switched).toMatchObject({ auth: 'password', password: PASSWORD });
    expect(switched).not.toHaveProperty('privateKey');
  });
});

describe('sftp paths and errors', () => {
  it('keeps every path under the root', () => {
    expect(sftpPathUnder('/srv/drop', 'in/a.csv')).toBe('/srv/drop/in/a.csv');
    expect(sftpPathUnder('/srv/drop', '/in//./a.csv')).toBe('/srv/drop/in/a.csv');
    expect(sftpPathUnder('.', 'a.csv')).toBe('a.csv');
    for (const bad of ['../etc/passwd', 'in/../../x', '', '.', '/'])
      expect(() => sftpPathUnder('/srv/drop', bad)).toThrow(OpenIrError);
  });

  it('prints the fingerprint ssh-keygen -lf prints', () => {
    const dir = tempDir('openir-sftpkey-');
    const file = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    const blob = Buffer.from(fs.readFileSync(`${file}.pub`, 'utf8').split(' ')[1] as string, 'base64');
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], {
      encoding: 'utf8',
    });
    expect(printed).toContain(fingerprintOf(blob));
  });

  it('maps SFTP statuses to codes: refusals are not retried, a broken connection is', () => {
    const session = (broken: boolean) => ({ broken: () => broken });
    const status = (code: number, message: string) => Object.assign(new Error(message), { code });
    const cred = { ...credential };
    const notFound = sftpFailure(
      session(false),
      cred,
      'read x',
      status(SFTP_STATUS.NO_SUCH_FILE, 'No such file'),
      'source',
    );
    expect(notFound.code).toBe('SFTP_NOT_FOUND');
    expect(isTransient(notFound)).toBe(false);
    const denied = sftpFailure(
      session(false),
      cred,
      'write x',
      status(SFTP_STATUS.PERMISSION_DENIED, 'Permission denied'),
      'sink',
    );
    expect(denied.code).toBe('SFTP_PERMISSION_DENIED');
    expect(isTransient(denied)).toBe(false);
    const failed = sftpFailure(
      session(false),
      cred,
      'write x',
      status(SFTP_STATUS.FAILURE, 'Failure'),
      'sink',
    );
    expect(failed.code).toBe('DATA_SINK_FAILED');
    expect(isTransient(failed)).toBe(false);
    const lost = sftpFailure(session(true), cred, 'read x', new Error('No response from server'), 'source');
    expect(lost.code).toBe('DATA_SOURCE_FAILED');
    expect(isTransient(lost)).toBe(true);
    expect(notFound.message).not.toContain(PASSWORD);
  });

  it('a private key ssh2 cannot parse is SFTP_AUTH_FAILED, and its socket is closed (no stray connection or error)', async () => {
    // A listener that counts connections: the refused config must not leave one behind.
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const stray: Error[] = [];
    const onStray = (error: Error) => stray.push(error);
    process.on('uncaughtException', onStray);
    try {
      const attempt = openSftpSession({
        ...base,
        host: '127.0.0.1',
        port,
        auth: 'privateKey',
        privateKey: 'not a key',
      } as Parameters<typeof openSftpSession>[0]);
      await expect(attempt).rejects.toMatchObject({ code: 'SFTP_AUTH_FAILED' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(connections).toBe(0);
      expect(stray).toEqual([]);
    } finally {
      process.off('uncaughtException', onStray);
      server.close();
    }
  });
});

describe('the SFTP writer and the server write limit', () => {
  /**
   * ssh2's write() as it behaves: it copies at most `_maxWriteLen` bytes of
   * the request into its packet at once, and sends the rest, read from the
   * caller's buffer, only once the server answered the first part.
   */
  function fakeSftp(maxWriteLen: number | undefined) {
    const file = Buffer.alloc(300_000);
    const requests: number[] = [];
    const write = (
      _handle: Buffer,
      buf: Buffer,
      off: number,
      len: number,
      position: number,
      cb: (error?: Error) => void,
    ): void => {
      const now = Math.min(len, maxWriteLen ?? 31_952);
      requests.push(now);
      buf.copy(file, position, off, off + now);
      setImmediate(() => (now < len ? write(_handle, buf, off + now, len - now, position + now, cb) : cb()));
    };
    return { sftp: { _maxWriteLen: maxWriteLen, write }, file, requests };
  }

  for (const limit of [20_000, undefined]) {
    it(`sends requests of at most the server's limit (${limit ?? "ssh2's default for non-OpenSSH"}), so a chunk handed back is never read again`, async () => {
      const fake = fakeSftp(limit);
      const writer = new SftpWriter(
        fake.sftp as unknown as ConstructorParameters<typeof SftpWriter>[0],
        Buffer.from('handle'),
        (error) => error as Error,
      );
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 255));
      // One reused buffer, refilled as soon as the writer takes a chunk (what a pooled source does).
      const buffer = Buffer.alloc(100_000);
      for (let at = 0; at < data.length; at += buffer.length) {
        data.copy(buffer, 0, at, at + buffer.length);
        await new Promise<void>((resolve, reject) =>
          writer.write(buffer, (error) => (error ? reject(error) : resolve())),
        );
        buffer.fill(0x58);
      }
      await new Promise<void>((resolve, reject) =>
        writer.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      expect(Math.max(...fake.requests)).toBeLessThanOrEqual(limit ?? 31_952);
      expect(fake.file.equals(data)).toBe(true);
    });
  }
});
