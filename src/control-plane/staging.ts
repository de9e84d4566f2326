import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { parseChannelAuthorization } from '../shared/controlPlaneApi';
import { OpenIrError } from '../shared/errors';
import { JobIdSchema } from '../shared/jobs';
import type { Logger } from './log';
import { problems } from './problems';
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
}

/**
 * The staging upload: a node streams a job's output here (PUT, any size, no
 * body limit), authenticated with its node credential. Only the node the job
 * is assigned to may upload, and only while the job is active; the bytes land
 * in `staging/<jobId>` by temp file + rename, with their size and SHA-256
 * recorded so the job can only succeed if they match what the node sent.
 */
export function registerStagingRoute(app: FastifyInstance<HttpsServer>, deps: StagingDeps): void {
  // Leave the body unread: the handler streams it to disk.
  app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null));

  app.put<{ Params: { id: string } }>(STAGING_ROUTE, async (request) => {
    const presented = parseChannelAuthorization(request.headers.authorization);
    const node = presented ? deps.registry.authenticateNode(presented.nodeId, presented.credential) : null;
    if (!node) throw problems.credentialRejected();
    const id = JobIdSchema.safeParse(request.params.id);
    const job = id.success ? deps.store.jobs.find(id.data) : null;
    if (!job) throw new OpenIrError('JOB_NOT_FOUND', `There is no job ${request.params.id}.`);
    const attempt = Number(request.headers['x-openir-attempt'] ?? job.attempt);
    const active = job.state === 'Dispatched' || job.state === 'Running';
    if (job.sink.type !== 'staging' || job.nodeId !== node.id || !active || attempt !== job.attempt) {
      throw new OpenIrError(
        'JOB_NOT_ASSIGNED',
        `Job ${job.id} is not assigned to node '${node.name}' for staging (state ${job.state}, attempt ${job.attempt}).`,
        { fix: 'The job was re-queued or finished; the node stops this copy.' },
      );
    }
    const dir = stagingDir(deps.dataDir);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.${job.id}.${attempt}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(request.raw, meter, createWriteStream(temp, { mode: 0o600 }));
      const handle = await fs.open(temp, 'r+');
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
      await fs.rename(temp, path.join(dir, job.id));
      deps.log.info(`Staged ${bytes} bytes for job ${job.id} from node '${node.name}'`);
      return { jobId: job.id, bytes, sha256 };
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error instanceof OpenIrError
        ? error
        : new OpenIrError(
            'DATA_SINK_FAILED',
            `The staging upload of job ${job.id} broke off: ${(error as Error).message}.`,
          );
    }
  });
}
