import Sqlite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MINUTE_MS,
  NodeMetrics,
  PointRing,
  SERIES_MINUTES,
  type MetricsPoint,
} from '../../src/control-plane/nodeMetrics';
import { ControlPlaneStore } from '../../src/control-plane/store';
import { parseProcNetDev } from '../../src/core/metrics';
import { NodeMessageSchema, type NodeMessage } from '../../src/shared/controlPlaneApi';
import { monitorTable, runMonitor } from '../../src/control-plane/monitorCommands';
import type { IrMetrics } from '../../src/control-plane/monitoring';

/**
 * The monitoring series with an injected clock and a real SQLite store: the
 * bounds (1440 points per node in memory, rows pruned to 24 h on disk), the
 * per-minute aggregation, and the reload at start.
 */

const dirs: string[] = [];
const stores: ControlPlaneStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'openir-metrics-'));
  dirs.push(dir);
  const file = path.join(dir, 'control-plane.db');
  const clock = { ms: T0, nowMs: () => clock.ms };
  const store = ControlPlaneStore.open(file, clock);
  stores.push(store);
  // The rows the series hang on (node_metrics.node_id references nodes).
  const raw = new Sqlite(file);
  raw.exec(`INSERT INTO irs (id, name, created_at, factory_id) VALUES ('ir1', 'ir-one', 1, 'default');
            INSERT INTO nodes (id, ir_id, name, fqdn, version, platform, credential_hash, registered_at)
            VALUES ('n1', 'ir1', 'node1', 'n1', '0.1', 'linux', 'h', 1), ('n2', 'ir1', 'node2', 'n2', '0.1', 'linux', 'h', 1);`);
  raw.close();
  return { clock, store, file };
}

function heartbeat(fields: Partial<Extract<NodeMessage, { type: 'heartbeat' }>> = {}) {
  return {
    type: 'heartbeat' as const,
    runningJobs: 0,
    jobLimit: 4,
    cpuPercent: 10,
    memoryUsedBytes: 1000,
    memoryTotalBytes: 4000,
    memoryAvailableBytes: 3000,
    networkSentBytes: 0,
    networkReceivedBytes: 0,
    peersReachable: true,
    ...fields,
  };
}

const point = (minute: number): MetricsPoint => ({
  minute,
  heartbeats: 1,
  cpuPercent: 0,
  memoryUsedBytes: 0,
  memoryTotalBytes: 0,
  memoryAvailableBytes: null,
  networkSentBytes: null,
  networkReceivedBytes: null,
  networkSentBytesPerSecond: null,
  networkReceivedBytesPerSecond: null,
  runningJobs: 0,
});

describe('PointRing', () => {
  it('keeps the newest `capacity` points, oldest first', () => {
    const ring = new PointRing(3);
    for (let i = 0; i < 5; i += 1) ring.push(point(i * MINUTE_MS));
    expect(ring.size).toBe(3);
    expect(ring.since(0).map((p) => p.minute / MINUTE_MS)).toEqual([2, 3, 4]);
    // The same minute pushed again replaces the last point rather than adding one.
    ring.push({ ...point(4 * MINUTE_MS), heartbeats: 9 });
    expect(ring.since(0).map((p) => p.heartbeats)).toEqual([1, 1, 9]);
  });
});

describe('NodeMetrics', () => {
  it('1441 minutes of heartbeats: 1440 points in memory and at most 1440 rows on disk, the oldest gone', () => {
    const { clock, store } = setup();
    const metrics = new NodeMetrics(store.metrics, () => clock.nowMs());
    for (let minute = 0; minute < SERIES_MINUTES + 1; minute += 1) {
      clock.ms = T0 + minute * MINUTE_MS + 1_000;
      metrics.record('n1', 'ir1', heartbeat({ cpuPercent: minute % 100 }));
    }
    const points = metrics.points('n1');
    expect(points).toHaveLength(SERIES_MINUTES);
    expect(points[0]?.minute).toBe(T0 + MINUTE_MS);
    expect(points.at(-1)?.minute).toBe(T0 + SERIES_MINUTES * MINUTE_MS);
    // The last minute is still in progress (not on disk yet); the first fell out of the 24 h window.
    expect(store.metrics.count()).toBeLessThanOrEqual(SERIES_MINUTES);
    const rows = store.metrics.load(0).map((row) => row.point.minute);
    expect(rows).not.toContain(T0);
    expect(Math.min(...rows)).toBe(T0 + MINUTE_MS);
    // In memory: 1440 closed minutes at most (the 1441st is the minute in progress, not in the ring yet).
    expect(metrics.heldPoints('n1')).toBeLessThanOrEqual(SERIES_MINUTES);
    clock.ms += MINUTE_MS;
    metrics.tick();
    expect(metrics.heldPoints('n1')).toBe(SERIES_MINUTES);
    // An hour later with no heartbeats, the tick closes nothing new and prunes the rows past 24 h.
    clock.ms += 60 * MINUTE_MS;
    metrics.tick();
    expect(Math.min(...store.metrics.load(0).map((row) => row.point.minute))).toBeGreaterThanOrEqual(
      T0 + 61 * MINUTE_MS,
    );
    expect(metrics.points('n1').length).toBeLessThanOrEqual(SERIES_MINUTES - 59);
    expect(metrics.points('n1', 5).length).toBeLessThanOrEqual(5);
  });

  it("aggregates a minute's heartbeats: averages, the most jobs, network bytes and rate from the counters", () => {
    const { clock, store } = setup();
    const metrics = new NodeMetrics(store.metrics, () => clock.nowMs());
    clock.ms = T0;
    metrics.record(
      'n1',
      'ir1',
      heartbeat({ cpuPercent: 10, networkSentBytes: 1_000, networkReceivedBytes: 50 }),
    );
    clock.ms = T0 + 10_000;
    metrics.record(
      'n1',
      'ir1',
      heartbeat({ cpuPercent: 30, runningJobs: 2, networkSentBytes: 21_000, networkReceivedBytes: 1_050 }),
    );
    clock.ms = T0 + 20_000;
    // A counter that went down (the machine rebooted): no negative delta.
    metrics.record('n1', 'ir1', heartbeat({ cpuPercent: 20, networkSentBytes: 5, networkReceivedBytes: 5 }));
    const [current] = metrics.points('n1');
    expect(current).toMatchObject({
      minute: T0,
      heartbeats: 3,
      cpuPercent: 20,
      runningJobs: 2,
      memoryAvailableBytes: 3000,
      networkSentBytes: 20_000,
      networkReceivedBytes: 1_000,
      networkSentBytesPerSecond: 2_000,
      networkReceivedBytesPerSecond: 100,
    });
    expect(metrics.latest('n1')).toMatchObject({ networkSentBytesTotal: 5, networkSentBytesPerSecond: null });
    // An older node without the new fields: the point says "unknown", not zero.
    clock.ms = T0 + 30_000;
    metrics.record('n2', 'ir1', {
      type: 'heartbeat',
      runningJobs: 0,
      jobLimit: 1,
      cpuPercent: 1,
      memoryUsedBytes: 1,
      memoryTotalBytes: 2,
      peersReachable: true,
    });
    expect(metrics.points('n2')[0]).toMatchObject({
      memoryAvailableBytes: null,
      networkSentBytes: null,
      networkSentBytesPerSecond: null,
    });
  });

  it('reloads the series at start, the minute in progress included once flushed at shutdown', () => {
    const { clock, store } = setup();
    const first = new NodeMetrics(store.metrics, () => clock.nowMs());
    for (let minute = 0; minute < 5; minute += 1) {
      clock.ms = T0 + minute * MINUTE_MS;
      first.record('n1', 'ir1', heartbeat({ cpuPercent: minute }));
    }
    first.flush();
    const before = first.points('n1');
    expect(before).toHaveLength(5);
    const second = new NodeMetrics(store.metrics, () => clock.nowMs());
    expect(second.points('n1')).toEqual(before);
    // Heartbeats in the same minute after the restart update that minute, not add one.
    second.record('n1', 'ir1', heartbeat({ cpuPercent: 50 }));
    expect(second.points('n1')).toHaveLength(5);
  });

  it('a removed node takes its rows with it', () => {
    const { clock, store, file } = setup();
    const metrics = new NodeMetrics(store.metrics, () => clock.nowMs());
    metrics.record('n2', 'ir1', heartbeat());
    metrics.flush();
    expect(store.metrics.count()).toBe(1);
    const raw = new Sqlite(file);
    raw.pragma('foreign_keys = ON');
    raw.exec("DELETE FROM nodes WHERE id = 'n2'");
    raw.close();
    expect(store.metrics.count()).toBe(0);
  });
});

describe('parseProcNetDev', () => {
  const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9000 10 0 0 0 0 0 0 9000 10 0 0 0 0 0 0
  eth0: 1500 7 0 0 0 0 0 0 2500 9 0 0 0 0 0 0
  wlan0: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0
`;
  it('sums every interface but loopback (unless asked)', () => {
    expect(parseProcNetDev(SAMPLE)).toEqual({ received: 1600, sent: 2700 });
    expect(parseProcNetDev(SAMPLE, true)).toEqual({ received: 10_600, sent: 11_700 });
  });
});

describe('heartbeat schema', () => {
  it('accepts the monitoring fields, and heartbeats of older nodes without them', () => {
    const old = {
      type: 'heartbeat',
      runningJobs: 0,
      jobLimit: 1,
      cpuPercent: 1,
      memoryUsedBytes: 1,
      memoryTotalBytes: 2,
      peersReachable: true,
    };
    expect(NodeMessageSchema.safeParse(old).success).toBe(true);
    const parsed = NodeMessageSchema.parse({
      ...old,
      memoryAvailableBytes: 5,
      networkSentBytes: 6,
      networkReceivedBytes: 7,
    });
    expect(parsed).toMatchObject({ memoryAvailableBytes: 5, networkSentBytes: 6, networkReceivedBytes: 7 });
    expect(NodeMessageSchema.safeParse({ ...old, networkSentBytes: -1 }).success).toBe(false);
  });
});

describe('ir monitor (live loop, data fetch injected)', () => {
  const metrics = (n: number): IrMetrics => ({
    ir: 'ir-one',
    nodesOf: 'ir-one',
    resolutionSeconds: 60,
    minutes: 1440,
    heartbeatIntervalMs: 500,
    jobs: { running: n, queued: 2, failed: 0 },
    nodes: [
      {
        nodeId: 'n1',
        name: 'node1',
        status: 'Online',
        latest: {
          at: '2026-12-01T10:00:00.000Z',
          cpuPercent: 12.5,
          memoryUsedBytes: 1024 ** 3,
          memoryTotalBytes: 4 * 1024 ** 3,
          memoryAvailableBytes: 3 * 1024 ** 3,
          networkSentBytesTotal: 5 * 1024 ** 2,
          networkReceivedBytesTotal: 1024,
          networkSentBytesPerSecond: 2048,
          networkReceivedBytesPerSecond: null,
          runningJobs: n,
          jobLimit: 4,
        },
        points: [],
      },
    ],
  });

  it('redraws the table at each refresh until stopped, and keeps going through a failed fetch', async () => {
    let calls = 0;
    let stop = () => {};
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const out: string[] = [];
    await runMonitor({
      ir: 'ir-one',
      once: false,
      json: false,
      write: (text) => out.push(text),
      stopped,
      fetch: async () => {
        calls += 1;
        if (calls === 2) throw new Error('control plane restarting');
        if (calls === 3) stop();
        return metrics(calls);
      },
    });
    expect(calls).toBe(3);
    expect(out).toHaveLength(3);
    expect(out[0]?.startsWith('\x1b[2J\x1b[H')).toBe(true);
    expect(out[1]).toContain('control plane restarting (retrying)');
    expect(out[2]).toContain('jobs: 3 running, 2 queued, 0 failed');
    expect(out[2]).toMatch(
      /node1\s+Online\s+12\.5%\s+1\.0 GiB \/ 4\.0 GiB\s+3\.0 GiB\s+-\s+2\.0 KiB\/s\s+5\.0 MiB\s+3\/4/,
    );
  });

  it('--once prints one table without screen control', () => {
    const { text } = monitorTable(metrics(0));
    expect(text).not.toContain('\x1b');
    expect(text.split('\n')[2]).toMatch(/^node1\s+Online/);
  });
});
