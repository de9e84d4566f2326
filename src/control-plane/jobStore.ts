import type { Database } from 'better-sqlite3';
import type { ErrorCode } from '../shared/errors';
import { jobDataStoreCode } from '../shared/credentialTest';
import type { FinalJobState, JobFormat, JobMode, JobSink, JobSource, JobState } from '../shared/jobs';
import { isoTime } from './clock';

export interface JobRow {
  id: string;
  irId: string;
  source: JobSource;
  sink: JobSink;
  format: JobFormat;
  /** A table sink's load mode; null for other sinks (and jobs from before modes). */
  mode: JobMode | null;
  state: JobState;
  reason: string | null;
  reasonCode: string | null;
  nodeId: string | null;
  nodeName: string | null;
  attempt: number;
  cancelRequested: boolean;
  bytes: number;
  rows: number | null;
  rate: number | null;
  /** The node's latest retry or resume of this attempt's copy, in words. */
  note: string | null;
  sha256: string | null;
  stagedBytes: number | null;
  stagedSha256: string | null;
  createdAtMs: number;
  dispatchedAtMs: number | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
}

export interface NewJob {
  id: string;
  irId: string;
  source: JobSource;
  sink: JobSink;
  format: JobFormat;
  mode?: JobMode | undefined;
}

export interface JobOutcome {
  state: FinalJobState;
  reason?: string | undefined;
  code?: ErrorCode | undefined;
  bytes: number;
  rows?: number | undefined;
  sha256: string;
}

interface RawJob {
  id: string;
  ir_id: string;
  source_credential: string;
  source_path: string;
  sink_type: 'staging' | 'credential';
  sink_credential: string | null;
  sink_path: string | null;
  format: JobFormat;
  sink_mode: JobMode | null;
  state: JobState;
  reason: string | null;
  reason_code: string | null;
  node_id: string | null;
  node_name: string | null;
  attempt: number;
  cancel_requested: number;
  bytes: number;
  rows_copied: number | null;
  rate: number | null;
  note: string | null;
  sha256: string | null;
  staged_bytes: number | null;
  staged_sha256: string | null;
  created_at: number;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
}

const toJob = (r: RawJob): JobRow => ({
  id: r.id,
  irId: r.ir_id,
  source: { credential: r.source_credential, path: r.source_path },
  sink:
    r.sink_type === 'staging'
      ? { type: 'staging' }
      : { type: 'credential', credential: r.sink_credential ?? '', path: r.sink_path ?? '' },
  format: r.format,
  mode: r.sink_mode,
  state: r.state,
  reason: r.reason,
  reasonCode: r.reason_code,
  nodeId: r.node_id,
  nodeName: r.node_name,
  attempt: r.attempt,
  cancelRequested: r.cancel_requested === 1,
  bytes: r.bytes,
  rows: r.rows_copied,
  rate: r.rate,
  note: r.note,
  sha256: r.sha256,
  stagedBytes: r.staged_bytes,
  stagedSha256: r.staged_sha256,
  createdAtMs: r.created_at,
  dispatchedAtMs: r.dispatched_at,
  startedAtMs: r.started_at,
  finishedAtMs: r.finished_at,
});

const ACTIVE = "state IN ('Dispatched', 'Running')";

/**
 * The job queue in SQLite. Every state change is one conditional UPDATE
 * (`WHERE state = … AND node_id = …`), so the server and an admin command
 * racing on the same job cannot both win: a job leaves Queued once, and only
 * the node it was given to can move it on.
 */
export class JobStore {
  constructor(private readonly db: Database) {}

  insert(job: NewJob, nowMs: number): void {
    this.db
      .prepare(
        `INSERT INTO jobs (id, ir_id, source_credential, source_path, sink_type, sink_credential, sink_path, format, sink_mode, state, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Queued', ?)`,
      )
      .run(
        job.id,
        job.irId,
        job.source.credential,
        job.source.path,
        job.sink.type,
        job.sink.type === 'credential' ? job.sink.credential : null,
        job.sink.type === 'credential' ? job.sink.path : null,
        job.format,
        job.mode ?? null,
        nowMs,
      );
  }

  find(id: string): JobRow | null {
    const row = this.db.prepare<[string], RawJob>('SELECT * FROM jobs WHERE id = ?').get(id);
    return row ? toJob(row) : null;
  }

  /** Newest first. */
  list(irId: string | null, limit: number): JobRow[] {
    const rows = irId
      ? this.db
          .prepare<[string, number], RawJob>('SELECT * FROM jobs WHERE ir_id = ? ORDER BY seq DESC LIMIT ?')
          .all(irId, limit)
      : this.db.prepare<[number], RawJob>('SELECT * FROM jobs ORDER BY seq DESC LIMIT ?').all(limit);
    return rows.map(toJob);
  }

  /**
   * One page of the jobs of some IRs, newest first: `before` is the cursor the
   * previous page gave (a queue position), so jobs queued meanwhile neither
   * shift nor repeat the pages.
   */
  page(
    irIds: readonly string[],
    limit: number,
    before: number | null,
  ): { jobs: JobRow[]; next: number | null } {
    if (irIds.length === 0) return { jobs: [], next: null };
    const marks = irIds.map(() => '?').join(', ');
    const rows = this.db
      .prepare<unknown[], RawJob & { seq: number }>(
        `SELECT * FROM jobs WHERE ir_id IN (${marks}) AND seq < ? ORDER BY seq DESC LIMIT ?`,
      )
      .all(...irIds, before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const more = rows.length > limit;
    const kept = rows.slice(0, limit);
    return { jobs: kept.map(toJob), next: more ? (kept.at(-1)?.seq ?? null) : null };
  }

  oldestQueued(irId: string): JobRow | null {
    const row = this.db
      .prepare<[string], RawJob>(
        "SELECT * FROM jobs WHERE ir_id = ? AND state = 'Queued' AND cancel_requested = 0 ORDER BY seq LIMIT 1",
      )
      .get(irId);
    return row ? toJob(row) : null;
  }

  /** The oldest queued job of any of these IRs: a shared IR's own queue and its linked IRs' queues, in one order. */
  oldestQueuedIn(irIds: readonly string[]): JobRow | null {
    if (irIds.length <= 1) return irIds[0] === undefined ? null : this.oldestQueued(irIds[0]);
    const marks = irIds.map(() => '?').join(', ');
    const row = this.db
      .prepare<string[], RawJob>(
        `SELECT * FROM jobs WHERE ir_id IN (${marks}) AND state = 'Queued' AND cancel_requested = 0 ORDER BY seq LIMIT 1`,
      )
      .get(...irIds);
    return row ? toJob(row) : null;
  }

  irsWithQueuedJobs(): string[] {
    return this.db
      .prepare<[], { ir_id: string }>("SELECT DISTINCT ir_id FROM jobs WHERE state = 'Queued'")
      .all()
      .map((r) => r.ir_id);
  }

  activeOfNode(nodeId: string): JobRow[] {
    return this.db
      .prepare<[string], RawJob>(`SELECT * FROM jobs WHERE node_id = ? AND ${ACTIVE} ORDER BY seq`)
      .all(nodeId)
      .map(toJob);
  }

  nodesWithActiveJobs(): string[] {
    return this.db
      .prepare<[], { node_id: string }>(
        `SELECT DISTINCT node_id FROM jobs WHERE node_id IS NOT NULL AND ${ACTIVE}`,
      )
      .all()
      .map((r) => r.node_id);
  }

  cancelRequestedActive(): JobRow[] {
    return this.db
      .prepare<[], RawJob>(`SELECT * FROM jobs WHERE cancel_requested = 1 AND ${ACTIVE}`)
      .all()
      .map(toJob);
  }

  markDispatched(id: string, nodeId: string, nodeName: string, nowMs: number): boolean {
    return (
      this.db
        .prepare(
          `UPDATE jobs SET state = 'Dispatched', node_id = ?, node_name = ?, attempt = attempt + 1, dispatched_at = ?,
             started_at = NULL, bytes = 0, rows_copied = NULL, rate = NULL, note = NULL, staged_bytes = NULL, staged_sha256 = NULL
           WHERE id = ? AND state = 'Queued' AND cancel_requested = 0`,
        )
        .run(nodeId, nodeName, nowMs, id).changes > 0
    );
  }

  markRunning(id: string, nodeId: string, nowMs: number): boolean {
    return (
      this.db
        .prepare(
          "UPDATE jobs SET state = 'Running', started_at = ? WHERE id = ? AND node_id = ? AND state = 'Dispatched'",
        )
        .run(nowMs, id, nodeId).changes > 0
    );
  }

  recordProgress(
    id: string,
    nodeId: string,
    progress: { bytes: number; rows?: number | undefined; rate: number; note?: string | undefined },
  ): void {
    this.db
      .prepare(
        `UPDATE jobs SET bytes = ?, rows_copied = ?, rate = ?, note = COALESCE(?, note)
         WHERE id = ? AND node_id = ? AND ${ACTIVE}`,
      )
      .run(progress.bytes, progress.rows ?? null, progress.rate, progress.note ?? null, id, nodeId);
  }

  recordStaged(id: string, nodeId: string, bytes: number, sha256: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE jobs SET staged_bytes = ?, staged_sha256 = ? WHERE id = ? AND node_id = ? AND ${ACTIVE}`,
        )
        .run(bytes, sha256, id, nodeId).changes > 0
    );
  }

  finish(id: string, nodeId: string, outcome: JobOutcome, nowMs: number): boolean {
    return (
      this.db
        .prepare(
          `UPDATE jobs SET state = ?, reason = ?, reason_code = ?, bytes = ?, rows_copied = COALESCE(?, rows_copied),
             sha256 = ?, finished_at = ?
           WHERE id = ? AND node_id = ? AND ${ACTIVE}`,
        )
        .run(
          outcome.state,
          outcome.reason ?? null,
          outcome.code ?? null,
          outcome.bytes,
          outcome.rows ?? null,
          outcome.state === 'Succeeded' ? outcome.sha256 : null,
          nowMs,
          id,
          nodeId,
        ).changes > 0
    );
  }

  /** Back to the queue (or Cancelled, when a cancel was asked for) after its node was lost. */
  requeue(id: string, nodeId: string, why: string, nowMs: number): 'Queued' | 'Cancelled' | null {
    const cancelled = this.db
      .prepare(
        `UPDATE jobs SET state = 'Cancelled', reason = ?, finished_at = ? WHERE id = ? AND node_id = ? AND cancel_requested = 1 AND ${ACTIVE}`,
      )
      .run(`Cancelled; ${why}`, nowMs, id, nodeId);
    if (cancelled.changes > 0) return 'Cancelled';
    const queued = this.db
      .prepare(
        `UPDATE jobs SET state = 'Queued', reason = ?, node_id = NULL WHERE id = ? AND node_id = ? AND ${ACTIVE}`,
      )
      .run(`Re-queued: ${why}`, id, nodeId);
    return queued.changes > 0 ? 'Queued' : null;
  }

  /** A queued job is cancelled at once; a running one is asked to stop (its node confirms). */
  requestCancel(id: string, nowMs: number): JobRow | null {
    this.db
      .prepare(
        "UPDATE jobs SET state = 'Cancelled', reason = 'Cancelled before it ran.', finished_at = ? WHERE id = ? AND state = 'Queued'",
      )
      .run(nowMs, id);
    this.db.prepare(`UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND ${ACTIVE}`).run(id);
    return this.find(id);
  }
}

/** The JSON every `job` command prints. */
export function jobView(job: JobRow, irName: string) {
  const iso = (ms: number | null) => (ms === null ? null : isoTime(ms));
  return {
    id: job.id,
    ir: irName,
    irId: job.irId,
    state: job.state,
    source: job.source,
    sink: job.sink,
    format: job.format,
    mode: job.mode,
    node: job.nodeId ? { id: job.nodeId, name: job.nodeName } : null,
    attempt: job.attempt,
    cancelRequested: job.cancelRequested,
    progress: { bytes: job.bytes, rows: job.rows, rate: job.rate },
    note: job.note,
    sha256: job.sha256,
    staging: job.stagedSha256 === null ? null : { bytes: job.stagedBytes, sha256: job.stagedSha256 },
    reason: job.reason,
    reasonCode: job.reasonCode,
    /** The DATA_STORE_* code a store's own failure code maps to (what Test connection gives), for scripts that match one code per cause. */
    dataStoreCode: job.reasonCode === null ? null : jobDataStoreCode(job.reasonCode),
    createdAt: isoTime(job.createdAtMs),
    dispatchedAt: iso(job.dispatchedAtMs),
    startedAt: iso(job.startedAtMs),
    finishedAt: iso(job.finishedAtMs),
  };
}
export type JobView = ReturnType<typeof jobView>;
