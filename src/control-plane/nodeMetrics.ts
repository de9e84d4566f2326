import type { Database } from 'better-sqlite3';
import type { NodeMessage } from '../shared/controlPlaneApi';

type Heartbeat = Extract<NodeMessage, { type: 'heartbeat' }>;

export const MINUTE_MS = 60_000;
/** 24 h at 1-minute resolution. */
export const SERIES_MINUTES = 24 * 60;

/** One minute of one node: the heartbeats of that minute aggregated. */
export interface MetricsPoint {
  /** Start of the minute (epoch ms). */
  minute: number;
  heartbeats: number;
  /** Averages over the minute's heartbeats. */
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number | null;
  /** Bytes the machine sent/received during the minute, and the rate over the time covered; null: the node reports no counters. */
  networkSentBytes: number | null;
  networkReceivedBytes: number | null;
  networkSentBytesPerSecond: number | null;
  networkReceivedBytesPerSecond: number | null;
  /** Most jobs running at once during the minute. */
  runningJobs: number;
}

/** The node's last heartbeat, as the live views (ir monitor, /metrics) show it. */
export interface LatestSample {
  at: number;
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number | null;
  /** The OS counters since boot (machine-wide, loopback excluded). */
  networkSentBytesTotal: number | null;
  networkReceivedBytesTotal: number | null;
  /** Since the previous heartbeat. */
  networkSentBytesPerSecond: number | null;
  networkReceivedBytesPerSecond: number | null;
  runningJobs: number;
  jobLimit: number;
}

/** A fixed-capacity ring of points, oldest first; pushing into a full ring drops the oldest. */
export class PointRing {
  private readonly items: (MetricsPoint | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity = SERIES_MINUTES) {
    this.items = new Array<MetricsPoint | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(point: MetricsPoint): void {
    const last = this.count > 0 ? this.items[(this.start + this.count - 1) % this.capacity] : undefined;
    // The same minute again (a bucket flushed at close, then more heartbeats after a quick restart): replace it.
    if (last && last.minute === point.minute) {
      this.items[(this.start + this.count - 1) % this.capacity] = point;
      return;
    }
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = point;
      this.count += 1;
    } else {
      this.items[this.start] = point;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Oldest first, those at or after `sinceMinute`. */
  since(sinceMinute: number): MetricsPoint[] {
    const out: MetricsPoint[] = [];
    for (let i = 0; i < this.count; i += 1) {
      const point = this.items[(this.start + i) % this.capacity];
      if (point && point.minute >= sinceMinute) out.push(point);
    }
    return out;
  }
}

/** The minute being collected for one node. */
interface Bucket {
  minute: number;
  heartbeats: number;
  cpu: number;
  memoryUsed: number;
  memoryTotal: number;
  memoryAvailable: number;
  memoryAvailableCount: number;
  sent: number;
  received: number;
  /** Milliseconds covered by the network deltas summed, for the rate. */
  networkMs: number;
  hasNetwork: boolean;
  runningJobs: number;
}

interface NodeSeries {
  irId: string;
  ring: PointRing;
  bucket: Bucket | null;
  latest: LatestSample | null;
}

/** The rows of migration 12's `node_metrics` table: one per node and minute, pruned to 24 h. */
export class MetricsStore {
  constructor(private readonly db: Database) {}

  write(nodeId: string, irId: string, point: MetricsPoint): void {
    this.db
      .prepare('INSERT OR REPLACE INTO node_metrics (node_id, ir_id, minute, point) VALUES (?, ?, ?, ?)')
      .run(nodeId, irId, point.minute, JSON.stringify(point));
  }

  prune(beforeMinute: number): number {
    return this.db.prepare('DELETE FROM node_metrics WHERE minute < ?').run(beforeMinute).changes;
  }

  load(sinceMinute: number): { nodeId: string; irId: string; point: MetricsPoint }[] {
    return this.db
      .prepare<[number], { node_id: string; ir_id: string; point: string }>(
        'SELECT node_id, ir_id, point FROM node_metrics WHERE minute >= ? ORDER BY node_id, minute',
      )
      .all(sinceMinute)
      .map((row) => ({ nodeId: row.node_id, irId: row.ir_id, point: JSON.parse(row.point) as MetricsPoint }));
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM node_metrics').get()?.n ?? 0;
  }

  /** Jobs per IR and state, for the job gauges. */
  jobCounts(): { irId: string; state: string; count: number }[] {
    return this.db
      .prepare<[], { ir_id: string; state: string; n: number }>(
        'SELECT ir_id, state, COUNT(*) AS n FROM jobs GROUP BY ir_id, state',
      )
      .all()
      .map((row) => ({ irId: row.ir_id, state: row.state, count: row.n }));
  }
}

/**
 * Per-node time series, 24 h at 1-minute resolution: each minute's heartbeats
 * are aggregated into one point. Bounded in memory (a ring of 1440 points per
 * node) and on disk (one row per node and minute, written when the minute
 * ends, so at most once a minute per node; rows older than 24 h pruned).
 * Reloaded from disk at start, so a restart keeps the series.
 */
export class NodeMetrics {
  private readonly nodes = new Map<string, NodeSeries>();
  private lastPruneMinute = 0;

  constructor(
    private readonly store: MetricsStore,
    private readonly nowMs: () => number,
  ) {
    const since = this.windowStart();
    for (const row of store.load(since)) this.seriesOf(row.nodeId, row.irId).ring.push(row.point);
    this.prune();
  }

  /** Folds a heartbeat into its node's current minute; a heartbeat in a new minute closes the previous one. */
  record(nodeId: string, irId: string, heartbeat: Heartbeat): void {
    const now = this.nowMs();
    const minute = minuteOf(now);
    const series = this.seriesOf(nodeId, irId);
    series.irId = irId;
    if (series.bucket && series.bucket.minute !== minute) this.close(nodeId, series);
    const bucket = (series.bucket ??= emptyBucket(minute));
    const previous = series.latest;
    const elapsedMs = previous ? now - previous.at : 0;
    const delta = (current: number | undefined, before: number | null) =>
      // A counter that went down is a reboot (or a wrapped counter): no delta for this step.
      current === undefined || before === null || current < before ? null : current - before;
    const sent = delta(heartbeat.networkSentBytes, previous?.networkSentBytesTotal ?? null);
    const received = delta(heartbeat.networkReceivedBytes, previous?.networkReceivedBytesTotal ?? null);
    bucket.heartbeats += 1;
    bucket.cpu += heartbeat.cpuPercent;
    bucket.memoryUsed += heartbeat.memoryUsedBytes;
    bucket.memoryTotal += heartbeat.memoryTotalBytes;
    if (heartbeat.memoryAvailableBytes !== undefined) {
      bucket.memoryAvailable += heartbeat.memoryAvailableBytes;
      bucket.memoryAvailableCount += 1;
    }
    if (heartbeat.networkSentBytes !== undefined) bucket.hasNetwork = true;
    if (sent !== null && received !== null && elapsedMs > 0) {
      bucket.sent += sent;
      bucket.received += received;
      bucket.networkMs += elapsedMs;
    }
    bucket.runningJobs = Math.max(bucket.runningJobs, heartbeat.runningJobs);
    const perSecond = (bytes: number | null) =>
      bytes === null || elapsedMs <= 0 ? null : Math.round((bytes * 1000) / elapsedMs);
    series.latest = {
      at: now,
      cpuPercent: heartbeat.cpuPercent,
      memoryUsedBytes: heartbeat.memoryUsedBytes,
      memoryTotalBytes: heartbeat.memoryTotalBytes,
      memoryAvailableBytes: heartbeat.memoryAvailableBytes ?? null,
      networkSentBytesTotal: heartbeat.networkSentBytes ?? null,
      networkReceivedBytesTotal: heartbeat.networkReceivedBytes ?? null,
      networkSentBytesPerSecond: perSecond(sent),
      networkReceivedBytesPerSecond: perSecond(received),
      runningJobs: heartbeat.runningJobs,
      jobLimit: heartbeat.jobLimit,
    };
  }

  /** The node's points of the last `minutes` (at most 24 h), oldest first, the minute in progress last. */
  points(nodeId: string, minutes = SERIES_MINUTES): MetricsPoint[] {
    const series = this.nodes.get(nodeId);
    if (!series) return [];
    const now = this.nowMs();
    const since = Math.max(
      this.windowStart(),
      minuteOf(now) - (Math.min(minutes, SERIES_MINUTES) - 1) * MINUTE_MS,
    );
    const points = series.ring.since(since);
    if (series.bucket && series.bucket.minute >= since) {
      const current = toPoint(series.bucket);
      if (points.at(-1)?.minute === current.minute) points[points.length - 1] = current;
      else points.push(current);
    }
    return points;
  }

  /** Points the node's ring holds in memory (bounded by SERIES_MINUTES), whatever the window. */
  heldPoints(nodeId: string): number {
    return this.nodes.get(nodeId)?.ring.size ?? 0;
  }

  latest(nodeId: string): LatestSample | null {
    return this.nodes.get(nodeId)?.latest ?? null;
  }

  /** Seconds since each node's last heartbeat (this process's view), for the heartbeat-lag gauge. */
  heartbeatAges(): { nodeId: string; irId: string; seconds: number }[] {
    const now = this.nowMs();
    return [...this.nodes.entries()]
      .filter(([, series]) => series.latest !== null)
      .map(([nodeId, series]) => ({
        nodeId,
        irId: series.irId,
        seconds: (now - (series.latest?.at ?? now)) / 1000,
      }));
  }

  /** A node left its IR: its series goes (the rows go with the node, ON DELETE CASCADE). */
  forget(nodeId: string): void {
    this.nodes.delete(nodeId);
  }

  /** Writes the minutes in progress (at shutdown), so a restart within the minute keeps them. */
  flush(): void {
    for (const [nodeId, series] of this.nodes) {
      if (series.bucket) this.store.write(nodeId, series.irId, toPoint(series.bucket));
    }
  }

  /** Closes minutes nobody heartbeated into since they ended (a node gone quiet), and prunes past 24 h. */
  tick(): void {
    const minute = minuteOf(this.nowMs());
    const oldest = this.windowStart();
    for (const [nodeId, series] of this.nodes) {
      if (series.bucket && series.bucket.minute !== minute) this.close(nodeId, series);
      // A node silent for 24 h (or removed) has nothing left to show: its memory goes.
      if (!series.bucket && series.ring.since(oldest).length === 0) this.nodes.delete(nodeId);
    }
    this.prune();
  }

  private close(nodeId: string, series: NodeSeries): void {
    const bucket = series.bucket;
    if (!bucket) return;
    const point = toPoint(bucket);
    series.ring.push(point);
    series.bucket = null;
    try {
      this.store.write(nodeId, series.irId, point);
    } catch {
      // The node was removed meanwhile (foreign key): its series goes with it.
      this.nodes.delete(nodeId);
    }
    this.prune();
  }

  private prune(): void {
    const minute = minuteOf(this.nowMs());
    if (minute === this.lastPruneMinute) return;
    this.lastPruneMinute = minute;
    this.store.prune(this.windowStart());
  }

  private windowStart(): number {
    return minuteOf(this.nowMs()) - (SERIES_MINUTES - 1) * MINUTE_MS;
  }

  private seriesOf(nodeId: string, irId: string): NodeSeries {
    let series = this.nodes.get(nodeId);
    if (!series) {
      series = { irId, ring: new PointRing(), bucket: null, latest: null };
      this.nodes.set(nodeId, series);
    }
    return series;
  }
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

function emptyBucket(minute: number): Bucket {
  return {
    minute,
    heartbeats: 0,
    cpu: 0,
    memoryUsed: 0,
    memoryTotal: 0,
    memoryAvailable: 0,
    memoryAvailableCount: 0,
    sent: 0,
    received: 0,
    networkMs: 0,
    hasNetwork: false,
    runningJobs: 0,
  };
}

function toPoint(bucket: Bucket): MetricsPoint {
  const n = Math.max(1, bucket.heartbeats);
  const network = bucket.hasNetwork;
  const rate = (bytes: number) =>
    !network || bucket.networkMs <= 0 ? null : Math.round((bytes * 1000) / bucket.networkMs);
  return {
    minute: bucket.minute,
    heartbeats: bucket.heartbeats,
    cpuPercent: Math.round((bucket.cpu / n) * 10) / 10,
    memoryUsedBytes: Math.round(bucket.memoryUsed / n),
    memoryTotalBytes: Math.round(bucket.memoryTotal / n),
    memoryAvailableBytes:
      bucket.memoryAvailableCount > 0
        ? Math.round(bucket.memoryAvailable / bucket.memoryAvailableCount)
        : null,
    networkSentBytes: network ? bucket.sent : null,
    networkReceivedBytes: network ? bucket.received : null,
    networkSentBytesPerSecond: rate(bucket.sent),
    networkReceivedBytesPerSecond: rate(bucket.received),
    runningJobs: bucket.runningJobs,
  };
}
