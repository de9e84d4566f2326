import type { ControlPlaneMessage, NodeMessage } from '../shared/controlPlaneApi';
import { RECENT_JOBS_CAP, type JobView } from '../shared/jobs';

type JobAssigned = Extract<ControlPlaneMessage, { type: 'jobAssigned' }>;

export interface JobHistoryOptions {
  /** Called at once when a job starts or finishes. */
  onChange: () => void;
  /** Called after progress, at most once per `throttleMs`. */
  throttleMs?: number;
  keep?: number;
  clock?: () => number;
}

/**
 * The node's recent jobs, in memory, for the UI. It watches the job messages
 * crossing the control channel (the assignment coming in; progress and the
 * final report going out), so the runner needs no hook, and reports changes:
 * a start or an end at once, progress at most twice a second.
 */
export class JobHistory {
  /** Newest first. */
  private jobs: JobView[] = [];
  private lastProgressEmit = 0;
  private pending: NodeJS.Timeout | null = null;

  constructor(private readonly options: JobHistoryOptions) {}

  get recent(): JobView[] {
    return this.jobs.map((job) => ({ ...job }));
  }

  /** A message from the control plane, seen before the runner handles it. */
  received(message: ControlPlaneMessage): void {
    if (message.type !== 'jobAssigned') return;
    if (this.running(message.jobId)?.attempt === message.attempt) return; // a resend: it runs once
    this.jobs.unshift(this.fresh(message));
    this.trim();
  }

  /** A message to the control plane, seen whether or not the channel could carry it. */
  sent(message: NodeMessage): void {
    if (message.type === 'jobProgress') {
      const job = this.running(message.jobId);
      if (!job) return;
      job.bytes = message.bytes;
      job.rows = message.rows ?? null;
      job.rate = message.rate;
      job.note = message.note ?? job.note;
      this.progressed();
    } else if (message.type === 'jobFinished') {
      // A final report sent again after a reconnect finds no running job: nothing changes.
      const job = this.running(message.jobId);
      if (!job) return;
      const now = this.now();
      job.state = message.state;
      job.bytes = message.bytes;
      job.rows = message.rows ?? job.rows;
      job.finishedAt = new Date(now).toISOString();
      job.reason = message.reason ?? null;
      const seconds = (now - Date.parse(job.startedAt)) / 1000;
      job.rate = seconds > 0 ? Math.round(message.bytes / seconds) : job.rate;
      this.trim();
    }
  }

  /** Call when a change is reported at once: a pending progress report is then included. */
  reported(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
    this.lastProgressEmit = this.now();
  }

  stop(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }

  private progressed(): void {
    if (this.pending) return;
    const wait = this.lastProgressEmit + (this.options.throttleMs ?? 500) - this.now();
    if (wait <= 0) {
      this.lastProgressEmit = this.now();
      this.options.onChange();
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = null;
      this.lastProgressEmit = this.now();
      this.options.onChange();
    }, wait);
    this.pending.unref();
  }

  private running(jobId: string): JobView | undefined {
    return this.jobs.find((job) => job.jobId === jobId && job.state === 'Running');
  }

  private fresh(message: JobAssigned): JobView {
    return {
      jobId: message.jobId,
      attempt: message.attempt,
      source: message.source,
      sink: message.sink,
      format: message.format,
      state: 'Running',
      bytes: 0,
      rows: null,
      rate: 0,
      startedAt: new Date(this.now()).toISOString(),
      finishedAt: null,
      reason: null,
      note: null,
    };
  }

  /** Keeps every running job and the newest finished ones, up to the cap in all. */
  private trim(): void {
    const keep = this.options.keep ?? RECENT_JOBS_CAP;
    let finished = Math.max(0, keep - this.jobs.filter((job) => job.state === 'Running').length);
    this.jobs = this.jobs.filter((job) => job.state === 'Running' || finished-- > 0);
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }
}
