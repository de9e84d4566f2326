import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type tls from 'node:tls';
import type { Writable } from 'node:stream';
import { channelAuthorization } from '../../shared/controlPlaneApi';
import { ErrorBodySchema, OpenIrError } from '../../shared/errors';
import { stagingPath } from '../../shared/jobs';
import type { Connector } from '../connector';
import type { LocalPathPolicy } from './pathPolicy';

const REFUSAL_WAIT_MS = 1000;

/** Where a copy writes: a stream, then commit (make it visible) or abort (leave nothing behind). */
export interface OpenedSink {
  stream: Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** Why the other end refused the data, when it said so; null otherwise. */
  refusal(): Promise<unknown>;
}

/**
 * A file under a localFolder credential, written atomically: a temp file next
 * to the target, fsync, rename. A cancelled or failed job leaves no partial file.
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
  const stream = fs.createWriteStream(temp, { flags: 'wx', mode: 0o640 });
  return {
    stream,
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
      stream.destroy();
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

/**
 * The control plane's staging upload: one streamed PUT, authenticated with
 * the node credential, over a connection from the node's Connector, so it takes
 * the same proxy and TLS pin as the control channel.
 */
export function openStagingSink(target: StagingTarget, jobId: string, attempt: number): OpenedSink {
  const url = new URL(stagingPath(jobId), target.endpoint);
  const req = http.request({
    host: url.hostname,
    port: url.port || 443,
    path: url.pathname,
    method: 'PUT',
    headers: {
      authorization: channelAuthorization(target.nodeId, target.credential),
      'content-type': 'application/octet-stream',
      'x-openir-attempt': String(attempt),
    },
    // No `agent`: with `agent: false` Node would ignore createConnection and dial directly.
    createConnection: target.connector.createConnection(target.endpoint, target.tls),
  });
  const answered = new Promise<void>((resolve, reject) => {
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.length < 64 && chunks.push(chunk));
      res.once('end', () => {
        if (res.statusCode === 200) return resolve();
        let body: unknown = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // not JSON
        }
        const error = ErrorBodySchema.safeParse((body as { error?: unknown } | null)?.error);
        reject(
          error.success
            ? OpenIrError.fromBody(error.data)
            : new OpenIrError(
                'DATA_SINK_FAILED',
                `The staging upload was refused (HTTP ${res.statusCode}).`,
                {
                  fix: 'Check the control plane log.',
                },
              ),
        );
      });
      res.once('error', reject);
    });
    req.once('error', (error) =>
      reject(
        new OpenIrError(
          'DATA_SINK_FAILED',
          `The staging upload to ${target.endpoint} failed: ${error.message}.`,
          {
            fix: 'Check the connection to the control plane; the job is retried when re-queued.',
            cause: error,
          },
        ),
      ),
    );
  });
  // Nobody may be awaiting yet when an early refusal arrives.
  answered.catch(() => undefined);
  return {
    stream: req,
    commit: () => answered,
    async abort() {
      req.destroy();
    },
    refusal: () =>
      Promise.race([
        answered.then(
          () => null,
          (error: unknown) => error,
        ),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), REFUSAL_WAIT_MS).unref()),
      ]),
  };
}
