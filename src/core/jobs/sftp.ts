import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { SFTPWrapper, Stats } from 'ssh2';
import { OpenIrError } from '../../shared/errors';
import { ChunkPool } from './chunkPool';
import type { OpenedSink, OpenedSource } from './copyEnds';
import {
  openSftpSession,
  sftpFailure,
  sftpPathUnder,
  SFTP_STATUS,
  type SftpCredential,
  type SftpSession,
} from './sftpClient';
import { SftpWriteRequests } from './sftpWriteRequest';

/*
 * An SFTP file as a job's source and sink (ssh2, loaded with this module on
 * first use). Reads and writes are pipelined: several SFTP requests are in
 * flight at once, as OpenSSH's own sftp client does, since one request at a
 * time waits a round trip per 32-256 KiB. Back-pressure holds: the reader
 * stops asking when the copy stops pulling, the writer stops taking when its
 * window of unanswered writes is full.
 */

/**
 * Bytes per SFTP write request: under OpenSSH's 255 KiB limit. Fewer,
 * larger requests cost less JavaScript per byte than 64 KiB ones (measured:
 * both directions faster). A server whose limit is lower (limits@openssh.com,
 * else 34,000 bytes less headers for servers other than OpenSSH) gets requests
 * of its limit: ssh2 would split a larger one itself, sending the rest only
 * when the first part is answered, from a chunk the writer has handed back.
 */
const REQUEST_BYTES = 128 * 1024;
/** When ssh2's limit cannot be read: what ssh2 assumes of a server other than OpenSSH. */
const FALLBACK_WRITE_BYTES = 34000 - 2 * 1024;
/**
 * Bytes per read request: 248 KiB, under OpenSSH's 255 KiB read limit and
 * ssh2's own 254 KiB one, so no request is split. Against 128 KiB, 8 reads
 * of this size (just under 2 MiB in flight) downloaded faster in 6 of 8
 * paired runs here (medians 98 against 78 MiB/s on a loaded machine).
 */
const READ_REQUEST_BYTES = 248 * 1024;
/**
 * Reads and writes in flight: just under 2 MiB and 512 KiB, within the SSH
 * channel's 2 MiB window either way. More in flight than the window only
 * queues in ssh2 (or on the server) and was measured slower, not faster.
 */
const READS_IN_FLIGHT = 8;
const WRITE_WINDOW_BYTES = 512 * 1024;

/** An ssh2 SFTP call with a Node-style callback, as a promise. */
export function sftpCall<T>(
  fn: (cb: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value))));
}

/** Where a retry of the same file may go on: its size and modification time, as a local file's. */
function validatorOf(stats: Stats): string {
  return `sftp:${stats.size}:${stats.mtime}`;
}

interface PendingRead {
  position: number;
  length: number;
  done: boolean;
  bytes: number;
  buffer: Buffer;
  error: Error | null;
}

/** Reads [start, end) of an open SFTP file with up to READS_IN_FLIGHT requests at once, in order. */
class SftpReader extends Readable {
  private readonly pending: PendingRead[] = [];
  /** Read buffers come back once the sink wrote them (see ChunkPool). */
  readonly pool = new ChunkPool(READ_REQUEST_BYTES, READS_IN_FLIGHT * 2);
  private next: number;
  private wanting = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    start: number,
    private readonly end: number,
    private readonly failure: (error: unknown) => Error,
    private readonly cleanup: () => void,
  ) {
    // Room for every read in flight, so a pause of the copy does not empty the pipeline.
    super({ highWaterMark: READ_REQUEST_BYTES * READS_IN_FLIGHT });
    this.next = start;
  }

  override _read(): void {
    this.wanting = true;
    this.fill();
    this.deliver();
  }

  private fill(): void {
    while (this.wanting && this.pending.length < READS_IN_FLIGHT && this.next < this.end) {
      const length = Math.min(READ_REQUEST_BYTES, this.end - this.next);
      this.request(this.next, length, this.pending.length);
      this.next += length;
    }
  }

  private request(position: number, length: number, at: number): void {
    const buffer = this.pool.take();
    const read: PendingRead = { position, length, done: false, bytes: 0, buffer, error: null };
    this.pending.splice(at, 0, read);
    this.sftp.read(this.handle, buffer, 0, length, position, (error, bytes) => {
      read.done = true;
      read.error = error ?? null;
      read.bytes = bytes;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.destroyed) return;
    while (this.pending[0]?.done === true) {
      const read = this.pending.shift() as PendingRead;
      if (read.error) {
        this.destroy(this.failure(read.error));
        return;
      }
      if (read.bytes === 0) {
        this.destroy(
          this.failure(
            new Error(
              `the file ended at byte ${read.position}, before the ${this.end} bytes it had when opened`,
            ),
          ),
        );
        return;
      }
      // A short read (the server's own limit): ask for the rest first, ahead of the later ones.
      if (read.bytes < read.length) this.request(read.position + read.bytes, read.length - read.bytes, 0);
      const more = this.push(this.pool.handOut(read.buffer, read.bytes));
      if (!more) this.wanting = false;
    }
    if (this.pending.length === 0 && this.next >= this.end) {
      this.push(null);
      return;
    }
    this.fill();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.cleanup();
    callback(error);
  }
}

/**
 * A file on an SFTP server under the credential's root, streamed from
 * `offset` when it is the same file as on the first try (size and mtime), else
 * from byte 0. The connection closes with the stream.
 */
export async function openSftpSource(
  credential: SftpCredential,
  relative: string,
  request: { offset?: number; validator?: string },
  signal: AbortSignal,
): Promise<OpenedSource> {
  const file = sftpPathUnder(credential.root, relative);
  const session = await openSftpSession(credential, signal);
  const { sftp } = session;
  let handle: Buffer | null = null;
  try {
    handle = await sftpCall<Buffer>((cb) => sftp.open(file, 'r', cb)).catch((error: unknown) => {
      throw sftpFailure(session, credential, `read ${file}`, error, 'source');
    });
    const opened = handle;
    const stats = await sftpCall<Stats>((cb) => sftp.fstat(opened, cb)).catch((error: unknown) => {
      throw sftpFailure(session, credential, `read ${file}`, error, 'source');
    });
    if (!stats.isFile()) {
      throw new OpenIrError('SFTP_NOT_FOUND', `${file} on ${credential.host} is not a file.`, {
        fix: 'Give the path of a file in the job source.',
      });
    }
    const validator = validatorOf(stats);
    const offset = request.offset ?? 0;
    const start = offset > 0 && offset <= stats.size && request.validator === validator ? offset : 0;
    let closed = false;
    const stream = new SftpReader(
      sftp,
      opened,
      start,
      stats.size,
      (error) => sftpFailure(session, credential, `read ${file}`, error, 'source'),
      () => {
        if (closed) return;
        closed = true;
        sftp.close(opened, () => session.close());
      },
    );
    return { stream, offset: start, validator, size: stats.size - start, release: stream.pool.release };
  } catch (error) {
    session.close();
    throw error;
  }
}

/**
 * Writes with up to WRITE_WINDOW_BYTES unanswered, a chunk's requests sent as
 * answers free room. A chunk is taken (its buffer free again: its bytes are
 * copied into SSH packets as each request is sent) once its last request is
 * sent. The window stays under the SSH channel's (OpenSSH's is 2 MiB): past
 * it ssh2 queues the packets itself and the upload ran at a third of the speed.
 */
export class SftpWriter extends Writable {
  /** Bytes per request: REQUEST_BYTES, or the server's lower limit. */
  private readonly requestBytes: number;
  private position = 0;
  private inFlight = 0;
  private chunk: Buffer | null = null;
  private sent = 0;
  private taken: ((error?: Error | null) => void) | null = null;
  private finishing: (() => void) | null = null;
  /** The first write the server failed, as it answered it. */
  failed: Error | null = null;
  /** Sends each request from the chunk itself when it can (sftpWriteRequest.ts). */
  readonly requests: SftpWriteRequests;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    private readonly failure: (error: unknown) => Error,
  ) {
    super({ highWaterMark: REQUEST_BYTES * 4 });
    // ssh2's own limit for one write request (set from the server's limits@openssh.com answer).
    const limit: unknown = Reflect.get(sftp, '_maxWriteLen');
    this.requestBytes = Math.min(
      REQUEST_BYTES,
      typeof limit === 'number' && limit > 0 ? limit : FALLBACK_WRITE_BYTES,
    );
    this.requests = new SftpWriteRequests(sftp);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failed) return callback(this.failure(this.failed));
    this.chunk = chunk;
    this.sent = 0;
    this.taken = callback;
    this.pump();
  }

  private pump(): void {
    const chunk = this.chunk;
    if (!chunk) return;
    while (this.sent < chunk.length && this.inFlight < WRITE_WINDOW_BYTES && !this.failed) {
      const length = Math.min(this.requestBytes, chunk.length - this.sent);
      this.inFlight += length;
      const answered = (error?: Error | null) => {
        this.inFlight -= length;
        if (error && !this.failed) this.failed = error;
        this.pump();
        if (this.finishing && this.inFlight === 0) {
          const finish = this.finishing;
          this.finishing = null;
          finish();
        }
      };
      if (!this.requests.send(this.handle, chunk, this.sent, length, this.position, answered))
        this.sftp.write(this.handle, chunk, this.sent, length, this.position, answered);
      this.sent += length;
      this.position += length;
    }
    if (this.sent >= chunk.length || this.failed) {
      const taken = this.taken;
      this.chunk = null;
      this.taken = null;
      taken?.(this.failed ? this.failure(this.failed) : null);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const done = () => callback(this.failed ? this.failure(this.failed) : null);
    if (this.inFlight === 0) done();
    else this.finishing = done;
  }
}

/** Makes the folders from the root down to `dir` that are missing. */
async function ensureFolder(session: SftpSession, credential: SftpCredential, dir: string): Promise<void> {
  const { sftp } = session;
  const exists = await sftpCall<Stats>((cb) => sftp.stat(dir, cb)).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (exists) return;
  const root = path.posix.normalize(credential.root);
  const below = path.posix.relative(root, dir).split('/');
  let current = root;
  for (const part of below) {
    current = path.posix.join(current, part);
    await sftpCall<undefined>((cb) => sftp.mkdir(current, (error) => cb(error, undefined))).catch(
      async (error: unknown) => {
        // Already there (OpenSSH answers FAILURE for EEXIST): fine; anything else says why.
        const there = await sftpCall<Stats>((cb) => sftp.stat(current, cb)).then(
          (stats) => stats.isDirectory(),
          () => false,
        );
        if (!there) throw sftpFailure(session, credential, `create the folder ${current}`, error, 'sink');
      },
    );
  }
}

/**
 * A file on an SFTP server, written to a hidden temporary name in the same
 * folder and renamed to its own when the copy is complete (posix-rename@openssh.com,
 * atomic over an existing file; else remove and rename), so no reader ever
 * sees it half-written. A cancel or a failure removes the temporary file; a
 * retry writes it again from byte 0 under a new temporary name.
 */
export async function openSftpSink(credential: SftpCredential, relative: string): Promise<OpenedSink> {
  const target = sftpPathUnder(credential.root, relative);
  const dir = path.posix.dirname(target);
  const temp = path.posix.join(dir, `.${path.posix.basename(target)}.${randomBytes(4).toString('hex')}.part`);
  const session = await openSftpSession(credential);
  const { sftp } = session;
  const fail = (action: string) => (error: unknown) => {
    throw sftpFailure(session, credential, action, error, 'sink');
  };
  let handle: Buffer;
  try {
    await ensureFolder(session, credential, dir);
    handle = await sftpCall<Buffer>((cb) => sftp.open(temp, 'wx', { mode: 0o640 }, cb)).catch(
      fail(`write ${temp}`),
    );
  } catch (error) {
    session.close();
    throw error;
  }
  let writer: SftpWriter | null = null;
  let handleOpen = true;
  const closeHandle = async () => {
    if (!handleOpen) return;
    handleOpen = false;
    await sftpCall<undefined>((cb) => sftp.close(handle, (error) => cb(error, undefined)));
  };
  return {
    held: async () => 0,
    open(offset) {
      if (offset !== 0) throw new Error('An SFTP sink starts at byte 0.');
      writer = new SftpWriter(sftp, handle, (error) =>
        sftpFailure(session, credential, `write ${target}`, error, 'sink'),
      );
      return writer;
    },
    async commit() {
      try {
        // On the server's disk before it gets its name, where the server can say so.
        await sftpCall<unknown>((cb) =>
          sftp.ext_openssh_fsync(handle, (error, info) => cb(error, info)),
        ).catch((error: unknown) => {
          if (!/not support/i.test(String((error as Error)?.message))) throw error;
        });
        await closeHandle().catch(fail(`write ${target}`));
        await rename(sftp, temp, target).catch(fail(`rename ${temp} to ${target}`));
      } catch (error) {
        await sftpCall<undefined>((cb) => sftp.unlink(temp, (e) => cb(e, undefined))).catch(() => undefined);
        session.close();
        throw error;
      }
      session.close();
    },
    async abort() {
      await closeHandle().catch(() => undefined);
      await sftpCall<undefined>((cb) => sftp.unlink(temp, (error) => cb(error, undefined))).catch(
        () => undefined,
      );
      session.close();
    },
    async refusal() {
      const failed = writer?.failed;
      if (!failed || (failed as Error & { code?: unknown }).code !== SFTP_STATUS.FAILURE) return null;
      return diskFull(sftp, credential, dir, target, failed);
    },
  };
}

/**
 * A failed write names no reason in SFTP v3 (OpenSSH answers SSH_FX_FAILURE
 * for ENOSPC and EDQUOT alike): the free space the server reports
 * (statvfs@openssh.com) tells a full disk apart; otherwise the message still
 * names the two likely causes.
 */
async function diskFull(
  sftp: SFTPWrapper,
  credential: SftpCredential,
  dir: string,
  target: string,
  cause: Error,
): Promise<OpenIrError> {
  const free = await sftpCall<{ f_bavail: number; f_frsize: number }>((cb) =>
    sftp.ext_openssh_statvfs(dir, cb),
  )
    .then((info) => Number(info.f_bavail) * Number(info.f_frsize))
    .catch(() => null);
  const full = free !== null && free < WRITE_WINDOW_BYTES;
  return new OpenIrError(
    'SFTP_DISK_FULL',
    full
      ? `The SFTP server ${credential.host} failed the write of ${target}: its disk is full (${free} bytes free).`
      : `The SFTP server ${credential.host} failed the write of ${target}: most likely a full disk or the user's quota.`,
    { fix: 'Free space on the server (or raise the quota of the user), then run the job again.', cause },
  );
}

async function rename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall<undefined>((cb) => sftp.ext_openssh_rename(from, to, (error) => cb(error, undefined)));
    return;
  } catch (error) {
    // ssh2 throws (synchronously, caught here) when the server lacks the extension.
    if (!/not support/i.test(String((error as Error)?.message))) throw error;
  }
  // Plain SFTP rename refuses an existing target: remove it first (a short moment with no file, never a half one).
  await sftpCall<undefined>((cb) => sftp.unlink(to, (error) => cb(error, undefined))).catch(
    (error: unknown) => {
      if ((error as { code?: unknown }).code !== SFTP_STATUS.NO_SUCH_FILE) throw error;
    },
  );
  await sftpCall<undefined>((cb) => sftp.rename(from, to, (error) => cb(error, undefined)));
}
