import type { ControlPlaneMessage, NodeMessage } from '../../shared/controlPlaneApi';
import { OpenIrError, toErrorBody, type ErrorBody } from '../../shared/errors';
import { JOB_NOTE_MAX } from '../../shared/jobs';
import { DATA_STORE_FIXES, dataStoreCodeFor } from '../../shared/credentialTest';
import { causeOf } from '../errorCause';
import type { SourceLogger } from '../logger';
import { CopyActivity } from './copyActivity';
import type { CopyEnds, CopyRequest } from './copyEnds';
import type { JobScope } from './credentialScope';
import { describeFailure, type RetryPolicy } from './retry';

type JobAssigned = Extract<ControlPlaneMessage, { type: 'jobAssigned' }>;
type JobFinished = Extract<NodeMessage, { type: 'jobFinished' }>;

export interface JobRunnerOptions {
  ends: CopyEnds;
  log: SourceLogger;
  /** Sends on the control channel; false when it is not open (the message is then kept or dropped). */
  send: (message: NodeMessage) => boolean;
  /** Called whenever the number of running jobs changes. */
  onChange: () => void;
  /**
   * This node's own concurrent jobs limit. An assignment past it is refused
   * (the control plane re-queues it), whatever the control plane counted.
   */
  limit?: () => number;
  /** Tells the control plane the current limit now (a heartbeat), before a refusal. */
  heartbeatNow?: () => void;
  progressIntervalMs?: number;
  clock?: () => number;
  /** How a copy retries transient failures (3 tries, 500 ms base delay by default). */
  retry?: Partial<RetryPolicy>;
  /**
   * Checked before the copy opens anything (CREDENTIAL_NOT_SHARED for a linked factory's job naming a
   * credential not shared with it); a throw fails the job with its code.
   */
  authorize?: (job: JobScope) => Promise<void>;
}

interface RunningJob {
  request: CopyRequest;
  scope: JobScope;
  controller: AbortController;
  activity: CopyActivity;
  startedMs: number;
  lastReportedBytes: number;
  /** The latest retry or resume in words, sent with progress; null until one happens. */
  note: string | null;
  lastReportedNote: string | null;
  timer: NodeJS.Timeout;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Runs the jobs the control plane pushes to this node. The control plane
 * decides what runs where (it counts each node's limit); this class runs each
 * job once, reports progress at most every 500 ms, and keeps the final report
 * until the channel can carry it, so a finished job is never reported lost.
 */
export class JobRunner {
  private readonly jobs = new Map<string, RunningJob>();
  private readonly unsent = new Map<string, JobFinished>();
  /**
   * A job given to this node again while its earlier run here is being
   * cancelled: it starts once that run has stopped, and the stopped run is not
   * reported (a "Cancelled" would end the new attempt nobody cancelled).
   */
  private readonly reassigned = new Map<string, JobAssigned>();

  constructor(private readonly options: JobRunnerOptions) {}

  get running(): number {
    return this.jobs.size;
  }

  get activeJobIds(): string[] {
    return [...this.jobs.keys()];
  }

  handle(message: ControlPlaneMessage): void {
    if (message.type === 'jobAssigned') this.assign(message);
    else if (message.type === 'jobCancel') this.cancel(message.jobId, 'Cancelled on the control plane.');
  }

  /** Re-sends final reports the channel could not carry; called when the channel opens. */
  flush(): void {
    for (const [jobId, message] of this.unsent) {
      if (this.options.send(message)) this.unsent.delete(jobId);
    }
  }

  cancel(jobId: string, why: string): void {
    // A cancel after the job was given back here cancels its new attempt too.
    this.reassigned.delete(jobId);
    const job = this.jobs.get(jobId);
    if (job && !job.controller.signal.aborted) {
      this.options.log.info('Cancelling a job.', { jobId, why });
      job.controller.abort(new JobCancelled(why));
    }
  }

  /** Stops every job, e.g. when the control channel has been down so long the control plane re-queued them. */
  cancelAll(why: string): void {
    for (const jobId of this.jobs.keys()) this.cancel(jobId, why);
  }

  private assign(message: JobAssigned): void {
    const { jobId, attempt } = message;
    const current = this.jobs.get(jobId);
    if (current?.controller.signal.aborted) {
      // The control plane re-queued the job while this node was unreachable, told this node to stop
      // its stale run, and gave the job back here: the new attempt runs after the stale run stops.
      this.reassigned.set(jobId, message);
      return;
    }
    if (current) {
      // The same assignment again (a resend after a reconnect): it already runs here, once.
      this.options.send({ type: 'jobAccepted', jobId, attempt });
      return;
    }
    const limit = this.options.limit?.() ?? Infinity;
    if (this.jobs.size >= limit) {
      const reason = `it already runs ${this.jobs.size} job(s), its concurrent jobs limit`;
      this.options.log.warn(`Refused job ${jobId}: ${reason}.`, { jobId, attempt, limit });
      this.options.heartbeatNow?.();
      this.options.send({ type: 'jobRefused', jobId, attempt, reason });
      return;
    }
    const request: CopyRequest = {
      jobId,
      attempt,
      source: message.source,
      sink: message.sink,
      format: message.format,
      ...(message.mode ? { mode: message.mode } : {}),
    };
    let tryNumber = 1;
    let tries = 1;
    let interruption = '';
    // The log says it, and so do the job's progress reports: Home and `job show` tell a flaky link.
    const note = (text: string) => {
      job.note = text.length > JOB_NOTE_MAX ? `${text.slice(0, JOB_NOTE_MAX - 1)}…` : text;
      this.reportProgress(job);
    };
    const activity = new CopyActivity(this.options.ends, request, {
      ...(this.options.retry ? { retry: this.options.retry } : {}),
      onRetry: ({ next, of, delayMs, error }) => {
        tryNumber = next;
        tries = of;
        interruption = describeFailure(error);
        this.options.log.warn(
          `Copy interrupted: ${interruption}; retrying (try ${next} of ${of}) after ${delayMs} ms.`,
          { jobId, attempt, bytes: activity.reading().bytes },
        );
        note(`Interrupted: ${interruption}; retrying (try ${next} of ${of}) in ${formatDelay(delayMs)}.`);
      },
      onResume: (offset) => {
        const text =
          offset > 0
            ? `Resuming the copy at byte ${offset} (try ${tryNumber} of ${tries})`
            : `Restarting the copy from the start (try ${tryNumber} of ${tries})`;
        this.options.log.info(`${text}.`, { jobId, attempt, offset });
        note(`${text}, after: ${interruption}.`);
      },
    });
    const job: RunningJob = {
      request,
      scope: {
        source: message.source,
        sink: message.sink,
        factory: message.factory,
        ownerFactory: message.ownerFactory,
      },
      controller: new AbortController(),
      activity,
      startedMs: this.now(),
      lastReportedBytes: -1,
      note: null,
      lastReportedNote: null,
      timer: setInterval(() => this.reportProgress(job), this.options.progressIntervalMs ?? 500),
    };
    job.timer.unref();
    this.jobs.set(jobId, job);
    this.options.send({ type: 'jobAccepted', jobId, attempt });
    this.options.log.info('Job started.', {
      jobId,
      attempt,
      source: message.source,
      sink: message.sink.type,
    });
    this.options.onChange();
    void this.run(job);
  }

  private async run(job: RunningJob): Promise<void> {
    const { jobId } = job.request;
    let finished: JobFinished;
    try {
      await this.options.authorize?.(job.scope);
      const result = await job.activity.run(job.controller.signal);
      finished = {
        type: 'jobFinished',
        jobId,
        state: 'Succeeded',
        bytes: result.bytes,
        ...(result.rows === undefined ? {} : { rows: result.rows }),
        sha256: result.sha256,
      };
      this.options.log.info('Job succeeded.', {
        jobId,
        bytes: result.bytes,
        sha256: result.sha256,
        ...(result.tries > 1 ? { tries: result.tries } : {}),
      });
    } catch (error) {
      const reading = job.activity.reading();
      const reason = job.controller.signal.reason;
      if (job.controller.signal.aborted && reason instanceof JobCancelled) {
        finished = {
          type: 'jobFinished',
          jobId,
          state: 'Cancelled',
          reason: reason.message,
          bytes: reading.bytes,
          sha256: EMPTY_SHA256,
        };
        this.options.log.info('Job cancelled.', { jobId, bytes: reading.bytes });
      } else {
        const body = jobFailure(error instanceof OpenIrError ? error : wrap(error));
        finished = {
          type: 'jobFinished',
          jobId,
          state: 'Failed',
          reason: body.fix ? `${body.message} ${body.fix}` : body.message,
          code: body.code,
          bytes: reading.bytes,
          sha256: EMPTY_SHA256,
        };
        this.options.log.warn(`Job failed: ${body.message}`, { jobId, code: body.code });
      }
    } finally {
      clearInterval(job.timer);
      this.jobs.delete(jobId);
    }
    const next = this.reassigned.get(jobId);
    if (next) {
      this.reassigned.delete(jobId);
      this.options.log.info('Job given back to this node: starting its new attempt.', {
        jobId,
        attempt: next.attempt,
      });
      this.assign(next);
      return;
    }
    if (!this.options.send(finished)) this.unsent.set(jobId, finished);
    this.options.onChange();
  }

  private reportProgress(job: RunningJob): void {
    const reading = job.activity.reading();
    if (reading.bytes === job.lastReportedBytes && job.note === job.lastReportedNote) return;
    job.lastReportedBytes = reading.bytes;
    job.lastReportedNote = job.note;
    const seconds = Math.max(0.001, (this.now() - job.startedMs) / 1000);
    this.options.send({
      type: 'jobProgress',
      jobId: job.request.jobId,
      bytes: reading.bytes,
      ...(reading.rows === undefined ? {} : { rows: reading.rows }),
      rate: Math.round(reading.bytes / seconds),
      ...(job.note === null ? {} : { note: job.note }),
    });
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }
}

class JobCancelled extends Error {}

/** "800 ms", "2.5 s". */
function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The codes that say only which end failed; a failure with a known cause under it gets a DATA_STORE_* code instead. */
const GENERIC_CODES = new Set(['DATA_SOURCE_FAILED', 'DATA_SINK_FAILED']);

/**
 * A failed job's code, message and fix. A generic failure whose cause is a
 * refused connection, a rejected password, an untrusted certificate, a
 * missing database or a timeout carries the DATA_STORE_* code that Test
 * connection gives for the same cause, so scripts match one code for both;
 * a store's own code (BLOB_AUTH_FAILED, SFTP_HOST_KEY_MISMATCH, …) stays, and
 * the control plane shows the DATA_STORE_* code it maps to beside it.
 */
export function jobFailure(error: OpenIrError): ErrorBody {
  const body = toErrorBody(error);
  if (!GENERIC_CODES.has(body.code)) return body;
  const generic = dataStoreCodeFor(body.code, causeOf(error.cause));
  return generic ? { ...body, code: generic, fix: body.fix ?? DATA_STORE_FIXES[generic] } : body;
}

function wrap(error: unknown): OpenIrError {
  const message = error instanceof Error ? error.message : String(error);
  return new OpenIrError('DATA_SINK_FAILED', `The copy failed: ${message}.`, { cause: error });
}
