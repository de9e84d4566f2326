import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { adminApi, type AdminApiAnswer } from '../helpers/adminApi';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IrMetrics } from '../../src/control-plane/monitoring';
import type { JobView } from '../../src/control-plane/jobStore';
import {
  runControlPlaneCli,
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { startDataServer } from '../helpers/dataServer';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * Monitoring end to end, all real processes: a control plane and an OpenIR
 * host whose heartbeats carry memory and network counters; the 1-minute series
 * over the admin API, `ir monitor`, Prometheus `/metrics` (parsed), factory
 * scoping, the refusal without a token off loopback, and a restart that keeps
 * the series. The node counts loopback traffic (test-only
 * OPENIR_METRICS_INCLUDE_LOOPBACK=1): the copy's upload to staging runs on
 * 127.0.0.1 here, and must show in the node's sent bytes.
 */

type Answer = AdminApiAnswer;
const get = (endpoint: string, urlPath: string, token?: string): Promise<Answer> =>
  adminApi(endpoint, 'GET', urlPath, token);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The Prometheus text exposition format (0.0.4), strictly: every sample line is
 * `name{label="value",...} number`, and every sample's metric has `# HELP` and
 * `# TYPE` lines before it. Throws on anything else.
 */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        expect(['gauge', 'counter', 'histogram', 'summary', 'untyped']).toContain(comment[3]);
        types.set(comment[2] ?? '', comment[3] ?? '');
      } else helps.add(comment[2] ?? '');
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!sample) throw new Error(`Not a Prometheus sample line: ${line}`);
    const name = sample[1] ?? '';
    if (!types.has(name) || !helps.has(name)) throw new Error(`Sample before its # TYPE/# HELP: ${line}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? '';
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let at = 0;
    while (at < body.length) {
      labelRe.lastIndex = at;
      const label = labelRe.exec(body);
      if (!label) throw new Error(`Bad labels: ${line}`);
      labels[label[1] ?? ''] = label[2] ?? '';
      at = labelRe.lastIndex;
    }
    samples.push({ name, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

const HEARTBEAT = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 3000 };
const FILE_BYTES = 24 * 1024 * 1024;

describe('monitoring: heartbeat metrics, the series, ir monitor, Prometheus', () => {
  let cp: RunningControlPlane;
  let adminToken = '';
  let tokenA = '';
  let tokenB = '';
  const node = makeNode({ OPENIR_METRICS_INCLUDE_LOOPBACK: '1' }, 'mon-node1');
  const dataRoot = tempDir('openir-mon-data-');
  const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
  // /slow/<n> sends at about 1.3 MB/s: a job that runs for several heartbeats.
  const data = startDataServer({ token: TOKEN, slowData: randomBytes(16 * 1024 * 1024) });

  const metricsOf = async (token: string, ir = 'mon-ir', query = '') => {
    const answer = await get(cp.endpoint, `/api/v1/admin/irs/${ir}/metrics${query}`, token);
    expect(answer.status, answer.text).toBe(200);
    return JSON.parse(answer.text) as IrMetrics;
  };
  /** The next heartbeat after now: the node's `latest.at` moves past `after`. */
  const nextHeartbeat = async (after: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const metrics = await metricsOf(tokenA);
      const latest = metrics.nodes[0]?.latest;
      if (latest && latest.at > after) return metrics;
      if (Date.now() > deadline) throw new Error(`no heartbeat after ${after}: ${JSON.stringify(metrics)}`);
      await sleep(200);
    }
  };
  const prometheus = async (token?: string) => {
    const answer = await get(cp.endpoint, '/metrics', token);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.contentType).toContain('text/plain');
    return parsePrometheus(answer.text);
  };
  const nodeSample = (parsed: ReturnType<typeof parsePrometheus>, name: string) =>
    parsed.samples.find(
      (s) =>
        s.name === name &&
        s.labels.factory === 'factory-a' &&
        s.labels.ir === 'mon-ir' &&
        s.labels.node === 'mon-node1',
    );

  beforeAll(async () => {
    fs.writeFileSync(path.join(dataRoot, 'big.bin'), randomBytes(FILE_BYTES));
    cp = await startControlPlane(HEARTBEAT);
    adminToken = fs.readFileSync(path.join(cp.dataDir, 'admin-token'), 'utf8').trim();
    tokenA = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-a'])).token;
    tokenB = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-b'])).token;
    const key = (await cp.createIr('mon-ir', ['--factory', 'factory-a'])).key1;
    await cp.createIr('other-ir', ['--factory', 'factory-b']);
    await node.startHost();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    const files = await node.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
    expect(files.code, files.stderr).toBe(0);
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    const webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    const web = await node.cli(
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
      `${TOKEN}\n`,
    );
    expect(web.code, web.stderr).toBe(0);
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code, registered.stderr).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  }, 120_000);

  afterAll(async () => {
    data.server.closeAllConnections();
    data.server.close();
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('heartbeats carry available memory and network counters; the route returns points with plausible values', async () => {
    const first = await nextHeartbeat('');
    const second = await nextHeartbeat(first.nodes[0]?.latest?.at ?? '');
    expect(second).toMatchObject({ ir: 'mon-ir', nodesOf: 'mon-ir', resolutionSeconds: 60 });
    const [row] = second.nodes;
    expect(row?.name).toBe('mon-node1');
    expect(row?.status).toBe('Online');
    const latest = row?.latest;
    expect(latest?.memoryUsedBytes).toBeGreaterThan(0);
    expect(latest?.memoryTotalBytes).toBeGreaterThan(latest?.memoryUsedBytes ?? Infinity);
    // The new heartbeat fields, as the node sent them.
    expect(latest?.memoryAvailableBytes).toBeGreaterThan(0);
    expect(latest?.memoryAvailableBytes).toBeLessThanOrEqual(latest?.memoryTotalBytes ?? 0);
    if (process.platform === 'linux') {
      expect(latest?.networkSentBytesTotal).toBeGreaterThan(0);
      expect(latest?.networkReceivedBytesTotal).toBeGreaterThan(0);
      expect(latest?.networkSentBytesPerSecond).toBeGreaterThanOrEqual(0);
    }
    const point = row?.points.at(-1);
    expect(point?.heartbeats).toBeGreaterThanOrEqual(1);
    expect(point?.memoryUsedBytes).toBeGreaterThan(0);
    expect(point?.memoryAvailableBytes).toBeGreaterThan(0);
    expect(point?.networkSentBytes ?? 0).toBeGreaterThanOrEqual(0);
    expect(point?.networkReceivedBytes ?? 0).toBeGreaterThanOrEqual(0);
    expect(Date.parse(point?.minute ?? '') % 60_000).toBe(0);
    // ?minutes= bounds the window; out of range is a coded refusal.
    expect((await metricsOf(tokenA, 'mon-ir', '?minutes=1')).nodes[0]?.points.length).toBeLessThanOrEqual(1);
    const bad = await get(cp.endpoint, '/api/v1/admin/irs/mon-ir/metrics?minutes=99999', tokenA);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.code).toBe('INVALID_INPUT');
  });

  it("a copy job moves the node's network sent bytes up, in the metrics route, ir monitor and /metrics", async () => {
    const before = await nextHeartbeat('');
    const sentBefore = before.nodes[0]?.latest?.networkSentBytesTotal ?? 0;
    const promBefore = nodeSample(await prometheus(adminToken), 'openir_node_network_sent_bytes')?.value ?? 0;
    const monitorBefore = await runControlPlaneCli<IrMetrics>([
      'ir',
      'monitor',
      'mon-ir',
      '--once',
      '--json',
      '--data',
      cp.dataDir,
    ]);
    expect(monitorBefore.code, monitorBefore.stderr).toBe(0);

    const job = await cp.adminOk<JobView>([
      'job',
      'submit',
      '--ir',
      'mon-ir',
      '--source',
      'files:big.bin',
      '--sink',
      'staging',
    ]);
    const done = await cp.waitJob(
      job.id,
      (j) => ['Succeeded', 'Failed', 'Cancelled'].includes(j.state),
      120_000,
      500,
    );
    expect(done.state, JSON.stringify(done)).toBe('Succeeded');
    const doneAt = new Date().toISOString();
    const after = await nextHeartbeat(doneAt);
    const sentAfter = after.nodes[0]?.latest?.networkSentBytesTotal ?? 0;
    // The upload to staging went over loopback: at least the file's bytes more were sent.
    expect(sentAfter - sentBefore).toBeGreaterThanOrEqual(FILE_BYTES);

    const monitorAfter = await runControlPlaneCli<IrMetrics>([
      'ir',
      'monitor',
      'mon-ir',
      '--once',
      '--json',
      '--data',
      cp.dataDir,
    ]);
    expect(monitorAfter.code, monitorAfter.stderr).toBe(0);
    expect(
      (monitorAfter.json.nodes[0]?.latest?.networkSentBytesTotal ?? 0) -
        (monitorBefore.json.nodes[0]?.latest?.networkSentBytesTotal ?? 0),
    ).toBeGreaterThanOrEqual(FILE_BYTES);

    const promAfter = nodeSample(await prometheus(adminToken), 'openir_node_network_sent_bytes')?.value ?? 0;
    expect(promAfter - promBefore).toBeGreaterThanOrEqual(FILE_BYTES);

    // The minute's points count the bytes too (the sum of the series since before the job).
    const sentInSeries = after.nodes[0]?.points
      .filter((p) => p.minute >= (before.nodes[0]?.points.at(-1)?.minute ?? ''))
      .reduce((sum, p) => sum + (p.networkSentBytes ?? 0), 0);
    expect(sentInSeries).toBeGreaterThanOrEqual(FILE_BYTES);
  }, 240_000);

  it("while a job runs, ir monitor and /metrics show its node's sent bytes going up", async () => {
    const monitor = async () => {
      const result = await runControlPlaneCli<IrMetrics>([
        'ir',
        'monitor',
        'mon-ir',
        '--once',
        '--json',
        '--data',
        cp.dataDir,
      ]);
      expect(result.code, result.stderr).toBe(0);
      return result.json;
    };
    const job = await cp.adminOk<JobView>([
      'job',
      'submit',
      '--ir',
      'mon-ir',
      '--source',
      'web:slow/16000000',
      '--sink',
      'staging',
    ]);
    await cp.waitJob(job.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 60_000, 200);
    const first = await monitor();
    const promFirst = nodeSample(await prometheus(adminToken), 'openir_node_network_sent_bytes')?.value ?? 0;
    // A few heartbeats later, the job still running.
    await nextHeartbeat(new Date(Date.now() + 1500).toISOString());
    const second = await monitor();
    const promSecond = nodeSample(await prometheus(adminToken), 'openir_node_network_sent_bytes')?.value ?? 0;
    const running = await cp.adminOk<JobView>(['job', 'show', job.id]);
    expect(running.state).toBe('Running');
    expect(second.jobs.running).toBe(1);
    expect(second.nodes[0]?.latest?.runningJobs).toBe(1);
    // The data server's sends and the node's upload to staging, both on loopback here: megabytes in
    // these seconds, far above the few kilobytes of the test's own API calls.
    const sent = (m: IrMetrics) => m.nodes[0]?.latest?.networkSentBytesTotal ?? 0;
    expect(sent(second) - sent(first)).toBeGreaterThan(1024 * 1024);
    expect(promSecond - promFirst).toBeGreaterThan(1024 * 1024);
    expect(second.nodes[0]?.latest?.networkSentBytesPerSecond).toBeGreaterThan(100 * 1024);
    await cp.adminOk(['job', 'cancel', job.id]);
    await cp.waitJob(job.id, (j) => ['Succeeded', 'Failed', 'Cancelled'].includes(j.state), 60_000, 300);
  }, 180_000);

  it('ir monitor --once prints the node row and the job counts', async () => {
    const text = await runControlPlaneCli(['ir', 'monitor', 'mon-ir', '--once', '--data', cp.dataDir]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^IR mon-ir {2}jobs: 0 running, 0 queued, 0 failed$/);
    expect(lines[1]).toMatch(/^NODE\s+STATUS\s+CPU\s+MEMORY USED\s+AVAILABLE\s+NET IN\s+NET OUT/);
    expect(lines[2]).toMatch(/^mon-node1\s+Online\s+\d+\.\d%\s+\d/);
    const unknown = await runControlPlaneCli([
      'ir',
      'monitor',
      'no-such-ir',
      '--once',
      '--json',
      '--data',
      cp.dataDir,
    ]);
    expect(unknown.code).toBe(1);
    expect((unknown.json as { error: { code: string } }).error.code).toBe('IR_NOT_FOUND');
  });

  it('/metrics is Prometheus text with the node gauges, labelled ir, node and factory, and the internals', async () => {
    const parsed = await prometheus(adminToken);
    for (const [name, type] of [
      ['openir_ir_status', 'gauge'],
      ['openir_node_status', 'gauge'],
      ['openir_node_up', 'gauge'],
      ['openir_ir_jobs', 'gauge'],
      ['openir_node_cpu_percent', 'gauge'],
      ['openir_node_memory_used_bytes', 'gauge'],
      ['openir_node_memory_available_bytes', 'gauge'],
      ['openir_node_network_sent_bytes', 'gauge'],
      ['openir_node_network_received_bytes', 'gauge'],
      ['openir_node_heartbeat_age_seconds', 'gauge'],
      ['openir_control_channels', 'gauge'],
    ])
      expect(parsed.types.get(name ?? ''), name).toBe(type);
    expect(nodeSample(parsed, 'openir_node_up')?.value).toBe(1);
    expect(
      parsed.samples.find(
        (s) =>
          s.name === 'openir_node_status' && s.labels.node === 'mon-node1' && s.labels.status === 'Online',
      )?.value,
    ).toBe(1);
    expect(nodeSample(parsed, 'openir_node_memory_used_bytes')?.value).toBeGreaterThan(0);
    const age = nodeSample(parsed, 'openir_node_heartbeat_age_seconds')?.value ?? -1;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(HEARTBEAT.heartbeatTimeoutMs / 1000 + 30);
    expect(parsed.samples.find((s) => s.name === 'openir_control_channels')?.value).toBe(1);
    expect(
      parsed.samples.find(
        (s) => s.name === 'openir_ir_jobs' && s.labels.ir === 'mon-ir' && s.labels.state === 'running',
      )?.value,
    ).toBe(0);
    expect(parsed.samples.some((s) => s.labels.ir === 'other-ir')).toBe(true);
    // Bound to loopback (the default): no token needed; the same content.
    const open = await prometheus();
    expect(nodeSample(open, 'openir_node_up')?.value).toBe(1);
    // A token that is sent must be good.
    expect((await get(cp.endpoint, '/metrics', `oirt_000000000000.${'A'.repeat(43)}`)).status).toBe(401);
  });

  it("a factory token sees its own IRs only: another factory's IR is 404 and absent from /metrics", async () => {
    expect((await metricsOf(tokenA)).nodes).toHaveLength(1);
    const other = await get(cp.endpoint, '/api/v1/admin/irs/mon-ir/metrics', tokenB);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.text).error.code).toBe('IR_NOT_FOUND');
    expect((await metricsOf(tokenB, 'other-ir')).nodes).toEqual([]);
    const asB = await prometheus(tokenB);
    expect(asB.samples.some((s) => s.labels.ir === 'mon-ir')).toBe(false);
    expect(asB.samples.some((s) => s.labels.ir === 'other-ir')).toBe(true);
    // Not even the count of A's connected nodes.
    expect(asB.samples.find((s) => s.name === 'openir_control_channels')?.value).toBe(0);
    const asA = await prometheus(tokenA);
    expect(asA.samples.some((s) => s.labels.ir === 'other-ir')).toBe(false);
    expect(nodeSample(asA, 'openir_node_up')?.value).toBe(1);
  });

  it('a restart of the control plane keeps the series', async () => {
    const before = (await metricsOf(tokenA)).nodes[0]?.points ?? [];
    expect(before.length).toBeGreaterThan(0);
    expect(await cp.stop()).toBe(0);
    cp = await startControlPlane({ ...HEARTBEAT, dataDir: cp.dataDir, port: cp.port });
    // Read at once, before the node's next heartbeat could rebuild anything: the points came from disk.
    const after = (await metricsOf(tokenA)).nodes[0]?.points ?? [];
    expect(after.map((p) => p.minute)).toEqual(expect.arrayContaining(before.map((p) => p.minute)));
    for (const point of before) {
      const reloaded = after.find((p) => p.minute === point.minute);
      expect(reloaded?.memoryUsedBytes).toBeGreaterThan(0);
      if (point !== before.at(-1)) expect(reloaded).toEqual(point);
    }
    await node.waitForStatus((s) => s.status === 'Online', 30_000);
  }, 60_000);

  it('off loopback, /metrics without a token is refused with 401 UNAUTHORIZED; a token is served', async () => {
    const exposed = await startControlPlane({ extraArgs: ['--host', '0.0.0.0'] });
    const local = `https://127.0.0.1:${exposed.port}`;
    const refused = await get(local, '/metrics');
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text).error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(JSON.parse(refused.text).error.fix).toContain('Bearer');
    const token = fs.readFileSync(path.join(exposed.dataDir, 'admin-token'), 'utf8').trim();
    const served = await get(local, '/metrics', token);
    expect(served.status).toBe(200);
    expect(parsePrometheus(served.text).types.get('openir_control_channels')).toBe('gauge');
    await exposed.stop();
  }, 60_000);
});
