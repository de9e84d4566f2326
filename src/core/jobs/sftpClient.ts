import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';
import { OpenIrError } from '../../shared/errors';
import type { ResolvedCredential } from './credentialStore';
import { markTransient } from './retry';
import { poolCipherPackets, reuseSftpReplyBuffer, SshPacketPool } from './sshPacketPool';
import { SshReadBuffer } from './sshReadBuffer';

/*
 * The SFTP connection of an sftp credential: ssh2 (loaded on first use, by
 * the dynamic import of this module), the pinned host key, the sign-in, the
 * SFTP subsystem, paths confined under the credential's root, and ssh2's
 * errors as OpenIR's codes. Direct TCP: SFTP servers are on the intranet, so
 * the node's proxy does not apply.
 */

export type SftpCredential = Extract<ResolvedCredential, { type: 'sftp' }>;

const READY_TIMEOUT_MS = 20_000;
/** A dead peer (cable pulled, server frozen) is noticed in about half a minute, not at the TCP timeout. */
const KEEPALIVE_INTERVAL_MS = 10_000;
const KEEPALIVE_COUNT_MAX = 3;

/**
 * The TCP connection for ssh2, with every write of one tick sent in one
 * writev. ssh2 writes each SSH packet (32 KiB at most) to the socket by
 * itself, so one 128 KiB SFTP write was five send() calls and each burst of
 * read requests one call per request; a send() on loopback costs this
 * process the receiving side's work too (the CPU profile of 1 GiB of SFTP
 * downloads: 1.0 s of 6.6 s in socket writes). Corked until the tick ends,
 * they go out together; nothing waits longer than the current tick. A
 * packet from `packets` goes back to it once written.
 */
function coalescingSocket(host: string, port: number, packets: SshPacketPool, reads: SshReadBuffer): Socket {
  // connect() first: it puts the prototype's write back on the socket (undoing a write-after-end guard).
  const socket: Socket = connect({ host, port, onread: reads.onread(() => socket) });
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    const [chunk] = args;
    if (args.length === 1 && packets.owns(chunk))
      return write(chunk, (error?: Error | null) => (error ? undefined : packets.release(chunk)));
    return write(...args);
  }) as Socket['write'];
  return socket;
}

/** ssh2, loaded on first use. A CommonJS module: its exports are the default export (Node finds only some by name). */
export async function loadSsh2(): Promise<typeof import('ssh2')> {
  const loaded = await import('ssh2');
  return (loaded as unknown as { default?: typeof import('ssh2') }).default ?? loaded;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02, what OpenSSH speaks). */
export const SFTP_STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4 } as const;

/** A host key blob's fingerprint as `ssh-keygen -lf` prints it: SHA256 of the key, base64 without padding. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * A job path under the credential's root. `..` is refused outright rather
 * than resolved, so no path names anything outside the root (what the server
 * itself lets the user reach, through links say, is the server's to limit).
 */
export function sftpPathUnder(root: string, relative: string): string {
  const parts = relative.split('/');
  if (parts.includes('..') || relative.trim() === '' || relative.includes('\0')) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `The SFTP path "${relative}" is empty or leaves the credential's root (it contains "..").`,
      { fix: 'Give a path under the root of the sftp credential, without "..".' },
    );
  }
  const joined = path.posix.join(root, ...parts.filter((part) => part !== '' && part !== '.'));
  if (joined === path.posix.normalize(root)) {
    throw new OpenIrError('INVALID_INPUT', `The SFTP path "${relative}" names the root folder, not a file.`, {
      fix: 'Give a file path under the root of the sftp credential.',
    });
  }
  return joined;
}

export interface SftpSession {
  client: Client;
  sftp: SFTPWrapper;
  /** Whether the connection broke (rather than closed by us): what fails on it then is worth a retry. */
  broken(): boolean;
  /** Ends the connection; safe to call more than once. */
  close(): void;
  /** Where the connection's AES-GCM packets come from (sshPacketPool.ts), and whether ssh2 takes them from it. */
  packets: SshPacketPool;
  packetsPooled: boolean;
  /** Whether the SFTP channel assembles its large replies in one reused buffer (sshPacketPool.ts). */
  repliesReused: boolean;
  /** The connection's read buffer (sshReadBuffer.ts): reads lent to ssh2, copied, and buffers retired. */
  reads: SshReadBuffer;
}

function where(credential: Pick<SftpCredential, 'host' | 'port'>): string {
  return `${credential.host}:${credential.port}`;
}

function mismatch(credential: SftpCredential, seen: string): OpenIrError {
  return new OpenIrError(
    'SFTP_HOST_KEY_MISMATCH',
    `The SFTP server ${where(credential)} showed the host key ${seen}, not the pinned ${credential.hostKey}; nothing was sent to it.`,
    {
      fix: `If the server's key was changed on purpose, check the new fingerprint with its administrator (ssh-keygen -lf on the server), then \`openir credential set ${credential.name} --type sftp … --host-key <SHA256:…>\`. Otherwise someone may be in between.`,
    },
  );
}

/** ssh2's connection error (before the session is up) as OpenIR's code. */
function connectFailure(credential: SftpCredential, error: Error & { level?: string; code?: unknown }) {
  if (error.level === 'client-authentication') {
    return new OpenIrError(
      'SFTP_AUTH_FAILED',
      `The SFTP server ${where(credential)} refused the user "${credential.user}" with this ${credential.auth === 'password' ? 'password' : 'private key'}.`,
      {
        fix: `Check the user and set the ${credential.auth === 'password' ? 'password again with `--secret-stdin`' : 'private key again with `--private-key-file` (and `--passphrase-stdin`)'}: \`openir credential set ${credential.name} --type sftp …\`.`,
        cause: error,
      },
    );
  }
  if (/passphrase|private key|Cannot parse privateKey|Encrypted private OpenSSH key/i.test(error.message)) {
    return new OpenIrError(
      'SFTP_AUTH_FAILED',
      `The private key of the credential "${credential.name}" cannot be read: ${error.message}.`,
      {
        fix: 'Set it again with `--private-key-file` (an OpenSSH or PEM key) and the right `--passphrase-stdin`.',
        cause: error,
      },
    );
  }
  const failure = new OpenIrError(
    'SFTP_UNREACHABLE',
    `Cannot reach the SFTP server ${where(credential)}: ${error.message}.`,
    {
      fix: 'Check the host and port of the credential and that this node can reach the server (SFTP connections do not use the proxy).',
      cause: error,
    },
  );
  // A handshake cut short (the server restarting, a dropped link) may well pass on the next try.
  return error.level === 'client-timeout' || /ECONNRESET|closed|ended/i.test(error.message)
    ? markTransient(failure)
    : failure;
}

/**
 * A signed-in SFTP session. The host key is checked in ssh2's hostVerifier,
 * during the key exchange and so before any sign-in is sent; a mismatch ends
 * the connection with SFTP_HOST_KEY_MISMATCH, never retried.
 */
export async function openSftpSession(
  credential: SftpCredential,
  signal?: AbortSignal,
): Promise<SftpSession> {
  signal?.throwIfAborted();
  const { Client } = await loadSsh2();
  const client = new Client();
  const packets = new SshPacketPool();
  const reads = new SshReadBuffer();
  let packetsPooled = false;
  let seen: string | null = null;
  let ready = false;
  let closedByUs = false;
  let brokenOff = false;
  const close = () => {
    closedByUs = true;
    client.end();
    // end() waits for the server's answer; a dead link would keep the socket: force it.
    setTimeout(() => client.destroy(), 2000).unref();
  };
  const config: ConnectConfig = {
    host: credential.host,
    port: credential.port,
    username: credential.user,
    readyTimeout: READY_TIMEOUT_MS,
    keepaliveInterval: KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    tryKeyboard: false,
    hostVerifier: (key: Buffer) => {
      seen = fingerprintOf(key);
      return seen === credential.hostKey;
    },
    ...(credential.auth === 'password'
      ? { password: credential.password ?? '' }
      : {
          privateKey: credential.privateKey ?? '',
          ...(credential.passphrase ? { passphrase: credential.passphrase } : {}),
        }),
  };
  const session = await new Promise<SftpSession>((resolve, reject) => {
    const onAbort = () => {
      close();
      reject(signal?.reason instanceof Error ? signal.reason : new DOMException('Aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: Error & { level?: string }) => {
      signal?.removeEventListener('abort', onAbort);
      client.destroy();
      reject(
        seen !== null && seen !== credential.hostKey
          ? mismatch(credential, seen)
          : connectFailure(credential, error),
      );
    };
    client.on('error', (error: Error & { level?: string }) => {
      if (!ready) fail(error);
      else if (!closedByUs) brokenOff = true;
    });
    client.on('close', () => {
      if (!closedByUs) brokenOff = true;
      if (!ready)
        fail(Object.assign(new Error('the connection closed during the handshake'), { code: 'ECONNRESET' }));
    });
    client.once('ready', () => {
      ready = true;
      client.sftp((error, sftp) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          close();
          reject(
            new OpenIrError(
              'SFTP_PERMISSION_DENIED',
              `The server ${where(credential)} signed the user in but refused the SFTP subsystem: ${error.message}.`,
              {
                fix: 'Ask the server administrator to enable SFTP for this user (Subsystem sftp in sshd_config).',
                cause: error,
              },
            ),
          );
          return;
        }
        const repliesReused = reuseSftpReplyBuffer(sftp, (reply) => reads.sftpReply(reply));
        if (repliesReused) reads.lend();
        resolve({
          client,
          sftp,
          broken: () => brokenOff,
          close,
          packets,
          packetsPooled,
          repliesReused,
          reads,
        });
      });
    });
    let sock: ReturnType<typeof coalescingSocket> | null = null;
    try {
      // Made here, so a config ssh2 refuses (a private key it cannot parse) does not leave it connecting.
      sock = coalescingSocket(credential.host, credential.port, packets, reads);
      client.connect({ ...config, sock });
      packetsPooled = poolCipherPackets(client, packets);
      reads.watchProtocol(client);
      // ssh2 leaves Nagle on: a small SFTP packet then waits for the peer's delayed ACK (40 ms) while
      // requests queue behind it, which halved the upload rate on loopback.
      client.setNoDelay(true);
    } catch (error) {
      sock?.destroy();
      fail(error as Error);
    }
  });
  return session;
}

/**
 * The fingerprint of the host key the server shows, without signing in: the
 * verifier refuses every key, so the connection ends right after the key
 * exchange, before any credential is sent. For `--fetch-host-key`.
 */
export async function fetchSftpHostKey(
  host: string,
  port: number,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<string> {
  const { Client } = await loadSsh2();
  const client = new Client();
  return new Promise<string>((resolve, reject) => {
    let seen: string | null = null;
    const settle = (error: Error | null) => {
      client.destroy();
      if (seen !== null) resolve(seen);
      else
        reject(
          new OpenIrError(
            'SFTP_UNREACHABLE',
            `Cannot reach the SFTP server ${host}:${port}: ${error?.message ?? 'it closed the connection before showing its host key'}.`,
            {
              fix: 'Check the host and port, and that this machine can reach the server.',
              cause: error ?? undefined,
            },
          ),
        );
    };
    client.on('error', (error) => settle(error));
    client.on('close', () => settle(null));
    client.connect({
      host,
      port,
      username: 'openir-host-key-probe',
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        seen = fingerprintOf(key);
        return false;
      },
    });
  });
}

/**
 * An SFTP status error (or a broken connection) as OpenIR's code: not found,
 * permission denied, the connection lost (transient); `action` says what was
 * being done, e.g. "read /data/in.csv".
 */
export function sftpFailure(
  session: Pick<SftpSession, 'broken'> | null,
  credential: SftpCredential,
  action: string,
  error: unknown,
  side: 'source' | 'sink',
): OpenIrError {
  if (error instanceof OpenIrError) return error;
  const err = error as Error & { code?: unknown };
  const code = err.code;
  if (code === SFTP_STATUS.NO_SUCH_FILE) {
    return new OpenIrError(
      'SFTP_NOT_FOUND',
      `Cannot ${action} on ${where(credential)}: no such file or folder.`,
      {
        fix: `Check the path in the job ${side}; it is under the credential's root ${credential.root}.`,
        cause: err,
      },
    );
  }
  if (code === SFTP_STATUS.PERMISSION_DENIED) {
    return new OpenIrError(
      'SFTP_PERMISSION_DENIED',
      `Cannot ${action} on ${where(credential)}: the server denied the user "${credential.user}" access.`,
      { fix: 'Ask the server administrator for access, or use another path.', cause: err },
    );
  }
  const failure = new OpenIrError(
    side === 'source' ? 'DATA_SOURCE_FAILED' : 'DATA_SINK_FAILED',
    `Cannot ${action} on ${where(credential)}: ${err?.message ?? String(error)}.`,
    {
      fix:
        session?.broken() === true
          ? 'The connection to the SFTP server broke; the job tried again. Check the network and the server.'
          : 'Check the SFTP server log for why it failed.',
      cause: err,
    },
  );
  // A status the server answered is a refusal; a connection that broke underneath is worth another try.
  return session?.broken() === true || typeof code !== 'number' ? markTransient(failure) : failure;
}
