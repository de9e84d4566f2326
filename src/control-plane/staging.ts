import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { OpenIrError } from '../shared/errors';
import { isActiveJobState, JobIdSchema, STAGED_BYTES_HEADER } from '../shared/jobs';
import type { Clock } from './clock';
import { formatDuration, formatElapsed } from './duration';
import type { JobRow } from './jobStore';
import type { Logger } from './log';
import type { IrRegistry } from './registry';
import type { ControlPlaneStore } from './store';

export const STAGING_ROUTE = '/api/v1/jobs/:id/staging';

export function stagingDir(dataDir: string): string {
  return path.join(dataDir, 'staging');
}

export interface StagingDeps {
  dataDir: string;
  store: ControlPlaneStore;
  registry: IrRegistry;
  log: Logger;
  clock: Clock;
  /** `serve --staging-max-size`: the most bytes one job may stage; null for no limit. */
  maxBytes: number | null;
  /** `serve --staging-retention`: how long a finished job's staged output is kept; null keeps it. */
  retentionMs: number | null;
}

export const DEFAULT_STAGING_MAX_BYTES = 50 * 2 ** 30;
export const DEFAULT_STAGING_RETENTION_MS = 7 * 86_400_000;

/** What the server's periodic sweep calls: deletes staged outputs past the retention. */
export interface StagingRoute {
  expire(): Promise<void>;
}

/** Bigger disk writes than the default 16 KiB: fewer syscalls for the same bytes. */
const WRITE_CHUNK = 1024 * 1024;

/**
 * The staging upload: a node streams a job's output here (PUT, any size, no
 * body limit), authenticated with its node credential. Only the node the job
 * is assigned to may upload, and only while the job is active; the bytes land
 * in `staging/<jobId>` by temp file + rename, with their size and SHA-256
 * recorded so the job can only succeed if they match what the node sent.
 *
 * Resume: a broken upload keeps its temp file, `.<jobId>.<attempt>.part`.
 * `HEAD` answers how many bytes it holds (`x-openir-staged-bytes`), and
 * `PUT …?offset=<n>` (n at most that) truncates it to n bytes and appends the
 * body; the SHA-256 recorded is of the whole file (the kept part is hashed
 * again from disk). A new HEAD or PUT for a job ends an upload of the same
 * job still in flight (a node copies a job once at a time, so that one is a
 * broken try the server has not noticed yet), so two never write one file.
 *
 * Limits: one job stages at most `maxBytes` (413 STAGING_TOO_LARGE, before
 * reading a body whose length says so, or as soon as the bytes pass it; the
 * part is deleted, and the node does not retry), and a finished job's output
 * is deleted `retentionMs` after the job finished (expire()).
 */
export function registerStagingRoute(app: FastifyInstance<HttpsServer>, deps: StagingDeps): StagingRoute {
  // Leave the body unread: the handler streams it to disk.
  app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null));
  const dir = stagingDir(deps.dataDir);
  /** The upload in flight per job: its request, and when its handler has let go of the file. */
  const inFlight = new Map<string, { raw: IncomingMessage; done: Promise<void> }>();
  let lastSweepMs = 0;

  const authorize = (request: FastifyRequest<{ Params: { id: string } }>) => {
    const node = deps.registry.nodeFromAuthorization(request.headers.authorization);
    const id = JobIdSchema.safeParse(request.params.id);
    const job = id.success ? deps.store.jobs.find(id.data) : null;
    if (!job) throw new OpenIrError('JOB_NOT_FOUND', `There is no job ${request.params.id}.`);
    const attempt = Number(request.headers['x-openir-attempt'] ?? job.attempt);
    if (!isUploadable(job, node.id, attempt)) {
      throw new OpenIrError(
        'JOB_NOT_ASSIGNED',
        `Job ${job.id} is not assigned to node '${node.name}' for staging (state ${job.state}, attempt ${job.attempt}).`,
        { fix: 'The job was re-queued or finished; the node stops this copy.' },
      );
    }
    return { job, node, attempt, partial: partialPath(dir, job.id, attempt) };
  };

  /** Ends the job's upload still in flight, if any, and waits until its handler let go of the file. */
  const supersede = async (jobId: string) => {
    const previous = inFlight.get(jobId);
    if (!previous) return;
    previous.raw.destroy();
    await previous.done;
  };

  app.head<{ Params: { id: string } }>(STAGING_ROUTE, async (request, reply) => {
    const { job, partial } = authorize(request);
    await supersede(job.id);
    const held = await keptBytes(partial);
    return reply.header(STAGED_BYTES_HEADER, String(held)).send();
  });

  app.put<{ Params: { id: string }; Querystring: { offset?: string } }>(STAGING_ROUTE, async (request) => {
    const { job, node, attempt, partial } = authorize(request);
    const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new OpenIrError('INVALID_INPUT', `"${request.query.offset}" is not a byte offset.`);
    }
    const limit = deps.maxBytes;
    const declared = Number(request.headers['content-length']);
    if (limit !== null && Number.isSafeInteger(declared) && offset + declared > limit) {
      throw tooLarge(job.id, offset + declared, limit);
    }
    await supersede(job.id);
    let release = () => undefined as void;
    const done = new Promise<void>((resolve) => (release = resolve));
    inFlight.set(job.id, { raw: request.raw, done });
    let output: WriteStream | null = null;
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      // Earlier attempts of this job will never resume; other jobs' leftovers go now and then.
      for (let earlier = 1; earlier < attempt; earlier += 1) {
        await fs.rm(partialPath(dir, job.id, earlier), { force: true });
      }
      if (Date.now() - lastSweepMs > SWEEP_INTERVAL_MS) {
        lastSweepMs = Date.now();
        await sweep(deps, dir);
      }
      const hash = createHash('sha256');
      let bytes = 0;
      if (offset > 0) {
        const held = await keptBytes(partial);
        if (offset > held) {
          // 502: the node takes it as transient, asks again (HEAD) and resumes lower.
          throw new OpenIrError(
            'DATA_SINK_FAILED',
            `The staging upload of job ${job.id} resumes at byte ${offset}, but only ${held} bytes are kept.`,
            { fix: 'The node asks again how much is kept and resumes from there.' },
          );
        }
        await fs.truncate(partial, offset);
        for await (const chunk of createReadStream(partial, { highWaterMark: WRITE_CHUNK })) {
          hash.update(chunk as Buffer);
        }
        bytes = offset;
      }
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          bytes += chunk.length;
          if (limit !== null && bytes > limit) return callback(tooLarge(job.id, bytes, limit));
          callback(null, chunk);
        },
      });
      output = createWriteStream(partial, {
        flags: offset > 0 ? 'a' : 'w',
        mode: 0o600,
        highWaterMark: WRITE_CHUNK,
      });
      await pipeline(request.raw, meter, output);
      const handle = await fs.open(partial, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      // Recorded before the rename is visible; re-checked so a job re-queued meanwhile keeps no stale bytes.
      if (!deps.store.jobs.recordStaged(job.id, node.id, bytes, sha256)) {
        throw new OpenIrError(
          'JOB_NOT_ASSIGNED',
          `Job ${job.id} was re-queued or finished during the upload.`,
        );
      }
      await fs.rename(partial, path.join(dir, job.id));
      deps.log.info(
        `Staged ${bytes} bytes for job ${job.id} from node '${node.name}'${offset > 0 ? ` (resumed at byte ${offset})` : ''}`,
      );
      return { jobId: job.id, bytes, sha256 };
    } catch (error) {
      // The file is whole up to what reached the disk once the write stream has closed.
      if (output && !output.closed) await once(output, 'close').catch(() => undefined);
      // A broken upload of a job still ours keeps its bytes for the node's retry to resume;
      // one past the size limit never resumes.
      const current = deps.store.jobs.find(job.id);
      const refused = error instanceof OpenIrError && error.code === 'STAGING_TOO_LARGE';
      if (refused || !current || !isUploadable(current, node.id, attempt))
        await fs.rm(partial, { force: true });
      throw error instanceof OpenIrError
        ? error
        : new OpenIrError(
            'DATA_SINK_FAILED',
            `The staging upload of job ${job.id} broke off: ${(error as Error).message}.`,
          );
    } finally {
      if (inFlight.get(job.id)?.raw === request.raw) inFlight.delete(job.id);
      release();
    }
  });
  return { expire: () => expireStaged(deps, dir) };
}

function tooLarge(jobId: string, bytes: number, limit: number): OpenIrError {
  return new OpenIrError(
    'STAGING_TOO_LARGE',
    `Job ${jobId} would stage ${bytes} bytes, more than this control plane keeps for one job (${limit} bytes).`,
    {
      fix: 'Copy to a data store sink instead of staging, or raise the limit with `openir-control-plane serve --staging-max-size <size>`.',
    },
  );
}

/**
 * Deletes the staged output of jobs that finished more than `retentionMs`
 * ago (and of jobs no longer known), logging each: the staging area is a
 * hand-over, not storage, and would otherwise grow until the disk is full.
 */
async function expireStaged(deps: StagingDeps, dir: string): Promise<void> {
  if (deps.retentionMs === null) return;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const now = deps.clock.nowMs();
  for (const name of names) {
    if (name.startsWith('.') || !JobIdSchema.safeParse(name).success) continue;
    const job = deps.store.jobs.find(name);
    if (job && (isActiveJobState(job.state) || now - (job.finishedAtMs ?? now) < deps.retentionMs)) continue;
    await fs.rm(path.join(dir, name), { force: true });
    deps.log.info(
      job
        ? `Deleted the staged output of job ${name}: finished ${formatElapsed(now - (job.finishedAtMs ?? now))} ago, past the staging retention of ${formatDuration(deps.retentionMs)}`
        : `Deleted the staged output of job ${name}: no such job any more`,
    );
  }
}

function isUploadable(job: JobRow, nodeId: string, attempt: number): boolean {
  return (
    job.sink.type === 'staging' &&
    job.nodeId === nodeId &&
    isActiveJobState(job.state) &&
    attempt === job.attempt
  );
}

function partialPath(dir: string, jobId: string, attempt: number): string {
  return path.join(dir, `.${jobId}.${attempt}.part`);
}

/** How many bytes of a broken upload are kept (0 when none are). */
function keptBytes(partial: string): Promise<number> {
  return fs.stat(partial).then(
    (stat) => stat.size,
    () => 0,
  );
}

const PARTIAL = /^\.([A-Za-z0-9-]{1,64})\.(\d+)\.part$/;
/** How often an upload looks for other jobs' partial uploads to remove (a directory listing). */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Removes kept partial uploads nobody will resume: those of jobs that have
 * finished or moved to another attempt (a node that gave up leaves one).
 */
async function sweep(deps: StagingDeps, dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const match = PARTIAL.exec(name);
    if (!match) continue;
    const [, id = '', attempt = ''] = match;
    const job = deps.store.jobs.find(id);
    const live = job && isActiveJobState(job.state) && job.attempt === Number(attempt);
    if (!live) await fs.rm(path.join(dir, name), { force: true });
  }
}
