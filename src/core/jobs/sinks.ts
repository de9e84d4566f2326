import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type tls from 'node:tls';
import { channelAuthorization } from '../../shared/controlPlaneApi';
import { OpenIrError, errorBodyOf } from '../../shared/errors';
import { parseJson } from '../jsonRequest';
import { STAGED_BYTES_HEADER, stagingPath } from '../../shared/jobs';
import type { Connector } from '../connector';
import type { OpenedSink } from './copyEnds';
import { openNewFileForWrite, type LocalPathPolicy } from './pathPolicy';
import { markTransient } from './retry';

const REFUSAL_WAIT_MS = 1000;
const HEAD_TIMEOUT_MS = 15_000;
/**
 * How much the upload's TLS socket queues before it pushes back: one read
 * chunk, so the source reads ahead (and the meter hashes) while TLS encrypts
 * and the kernel sends, instead of taking turns every 16 KiB. Not more: queued
 * chunks go to TLS as one writev, which Node first copies into one buffer.
 */
const UPLOAD_BUFFER = 1024 * 1024;

/**
 * What a local file sink takes before it says "wait". With the 16 KiB default
 * each 64 KiB chunk of a network source waited for its own disk write, the
 * source stopped asking ahead, and a download ran at half its speed.
 */
const LOCAL_WRITE_BUFFER = 1024 * 1024;

/**
 * How much a local file sink writes between two background flushes to disk.
 * The commit's fsync then has only the last few MiB left to write, instead
 * of the whole file while nothing else happens: for a 256 MiB download that
 * fsync was about 0.2 s of a 1.9 s job. The disk writes the rest meanwhile,
 * while the network still brings data.
 */
const FLUSH_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * A file write stream that asks the kernel to write its data to disk
 * (fdatasync, in the thread pool) every FLUSH_EVERY_BYTES, one flush at a
 * time, without waiting for it: writes go on meanwhile. It closes its file
 * only once a flush in flight has returned.
 */
class FlushingWriteStream extends (fs.WriteStream as unknown as new (
  path: string,
  options: { fd: number; highWaterMark: number },
) => fs.WriteStream) {
  private unflushed = 0;
  private flushing: Promise<void> | null = null;

  constructor(
    file: string,
    private readonly handle: number,
  ) {
    super(file, { fd: handle, highWaterMark: LOCAL_WRITE_BUFFER });
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._write(chunk, encoding, (error) => {
      if (!error) this.wrote(chunk.length);
      callback(error);
    });
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    (super._writev as NonNullable<fs.WriteStream['_writev']>)(chunks, (error) => {
      if (!error) this.wrote(chunks.reduce((sum, { chunk }) => sum + chunk.length, 0));
      callback(error);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const flushing = this.flushing;
    if (flushing) void flushing.then(() => super._destroy(error, callback));
    else super._destroy(error, callback);
  }

  private wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.flushing || this.closed) return;
    this.unflushed = 0;
    // A failed flush here only means the commit's own fsync does the work (and reports any error).
    this.flushing = new Promise<void>((resolve) => fs.fdatasync(this.handle, () => resolve())).then(() => {
      this.flushing = null;
    });
  }
}

/**
 * A file under a localFolder credential, written atomically: a temp file next
 * to the target, fsync, rename. A cancelled or failed job leaves no partial
 * file; a retry writes the file again from the start (it is local, so cheap).
 */
export async function openLocalFileSink(
  paths: LocalPathPolicy,
  root: string,
  relative: string,
): Promise<OpenedSink> {
  const target = await paths.forWrite(root, relative);
  const dir = path.dirname(target);
  await fsp.mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(4).toString('hex')}.part`);
  let stream: fs.WriteStream | null = null;
  return {
    held: async () => 0,
    open(offset) {
      if (offset !== 0) throw new Error('A local file sink starts at byte 0.');
      // A new file, not through a link, checked on its handle (pathPolicy.ts).
      stream = new FlushingWriteStream(temp, openNewFileForWrite(temp, dir, relative));
      return stream;
    },
    async commit() {
      const handle = await fsp.open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, target);
    },
    async abort() {
      // Closed first, so no write still in flight lands after the temp file is gone.
      const open = stream;
      if (open && !open.closed) {
        await new Promise<void>((resolve) => {
          open.once('close', () => resolve());
          open.destroy();
        });
      }
      await fsp.rm(temp, { force: true });
    },
    refusal: async () => null,
  };
}

export interface StagingTarget {
  endpoint: string;
  tls: tls.ConnectionOptions;
  connector: Connector;
  nodeId: string;
  credential: string;
}

/** An answer of the staging endpoint that is not a success, as the error it carries. */
function refusalOf(status: number, chunks: Buffer[]): OpenIrError {
  const body = errorBodyOf(parseJson(Buffer.concat(chunks)));
  const error = body
    ? OpenIrError.fromBody(body)
    : new OpenIrError('DATA_SINK_FAILED', `The staging upload was refused (HTTP ${status}).`, {
        fix: 'Check the control plane log.',
      });
  // A failing or busy control plane may well take the next try.
  return status >= 500 || status === 429 ? markTransient(error) : error;
}

function brokenOff(target: StagingTarget, error: Error): OpenIrError {
  return new OpenIrError(
    'DATA_SINK_FAILED',
    `The staging upload to ${target.endpoint} failed: ${error.message}.`,
    {
      fix: 'Check the connection to the control plane; the job is retried when re-queued.',
      cause: error,
    },
  );
}

/**
 * The control plane's staging upload: one streamed PUT per try, authenticated
 * with the node credential, over a connection from the node's Connector, so it
 * takes the same proxy and TLS pin as the control channel. A retry first asks
 * (HEAD) how many bytes the control plane kept from the broken try, then PUTs
 * the rest with `?offset=<bytes>`.
 */
export function openStagingSink(target: StagingTarget, jobId: string, attempt: number): OpenedSink {
  const url = new URL(stagingPath(jobId), target.endpoint);
  const headers = {
    authorization: channelAuthorization(target.nodeId, target.credential),
    'x-openir-attempt': String(attempt),
  };
  const request = (method: string, query: string, extra: Record<string, string>, tlsExtra = {}) =>
    http.request({
      host: url.hostname,
      port: url.port || 443,
      path: `${url.pathname}${query}`,
      method,
      headers: { ...headers, ...extra },
      // No `agent`: with `agent: false` Node would ignore createConnection and dial directly.
      createConnection: target.connector.createConnection(target.endpoint, { ...target.tls, ...tlsExtra }),
    });

  let req: http.ClientRequest | null = null;
  /** Settles when the upload's answer has been read: resolves on 200, rejects otherwise. */
  let answered: Promise<void> = Promise.reject(new Error('The staging upload was never opened.'));
  answered.catch(() => undefined);
  /** An answer that refused the data (not a broken connection), once one has arrived. */
  let refused: Promise<OpenIrError> | null = null;
  let closed: Promise<null> = Promise.resolve(null);
  let responded = false;

  return {
    held: () =>
      new Promise<number>((resolve, reject) => {
        const head = request('HEAD', '', {});
        head.setTimeout(HEAD_TIMEOUT_MS, () =>
          head.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
        );
        head.once('response', (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          const bytes = Number(res.headers[STAGED_BYTES_HEADER]);
          if (status === 200 && Number.isSafeInteger(bytes) && bytes >= 0) resolve(bytes);
          else if (status >= 500 || status === 429) reject(refusalOf(status, []));
          // A refusal (job re-queued, credential rejected): the upload hears why, with the body.
          else resolve(0);
        });
        head.once('error', (error) => reject(brokenOff(target, error)));
        head.end();
      }),
    open(offset, size) {
      const put = request(
        'PUT',
        offset > 0 ? `?offset=${offset}` : '',
        {
          'content-type': 'application/octet-stream',
          // A known length spares the chunked framing: one buffer per write, not three to join.
          ...(size === undefined ? {} : { 'content-length': String(size) }),
        },
        { highWaterMark: UPLOAD_BUFFER },
      );
      req = put;
      // A body shorter or longer than its Content-Length is an error here, not a hang there
      // (OutgoingMessage has it since Node 18.10; @types/node types it on ServerResponse only).
      Reflect.set(put, 'strictContentLength', true);
      // Many small writes go out at once rather than waiting on the peer's ACK.
      put.once('socket', (socket) => {
        if ('setNoDelay' in socket) socket.setNoDelay(true);
      });
      closed = new Promise((resolve) => put.once('close', () => resolve(null)));
      let answer: ((error: OpenIrError) => void) | null = null;
      refused = new Promise((resolve) => (answer = resolve));
      answered = new Promise<void>((resolve, reject) => {
        put.once('response', (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.length < 64 && chunks.push(chunk));
          res.once('end', () => {
            if (res.statusCode === 200) return resolve();
            const error = refusalOf(res.statusCode ?? 0, chunks);
            answer?.(error);
            reject(error);
          });
          res.once('error', (error) => reject(brokenOff(target, error)));
        });
        put.once('error', (error) => reject(brokenOff(target, error)));
      });
      // Nobody may be awaiting yet when an early refusal arrives.
      answered.catch(() => undefined);
      return put;
    },
    commit: () => answered,
    async abort() {
      req?.destroy();
    },
    refusal: () => {
      if (!refused) return Promise.resolve(null);
      const timeout = new Promise<null>((resolve) =>
        setTimeout(() => resolve(null), REFUSAL_WAIT_MS).unref(),
      );
      // Closed without an answer (the connection broke): nothing to wait for.
      const gone = closed.then(
        () => new Promise<null>((resolve) => setImmediate(() => !responded && resolve(null))),
      );
      return Promise.race([refused, gone, timeout]);
    },
  };
}
