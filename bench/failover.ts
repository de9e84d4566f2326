/**
 * Failover, measured against real processes: the control plane (heartbeat
 * every BENCH_HEARTBEAT_MS, timeout 5×), three OpenIR hosts in one IR and an
 * HTTP data store that sends about 1.3 MB/s, so jobs stay Running long enough
 * to kill a node under them. Each of BENCH_ROUNDS rounds submits BENCH_JOBS
 * jobs, waits until all run, `kill -9`s the node running the most, and reads
 * the control plane's own timestamps:
 *
 *   kill → resumed   until the last of the killed node's jobs is Running
 *                    again on another node (goal < 2 × heartbeat timeout)
 *   kill → all done  until every job of the round has finished
 *   lost             jobs not Succeeded, or whose staged bytes differ from
 *                    the source (a duplicate or missing byte changes the
 *                    SHA-256; goal 0)
 *
 * The killed host is started again (same home, same node) before the next
 * round. Prints a table, or JSON with --json.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openAdminSession, type AdminSession } from '../src/control-plane/admin';
import { submitJob } from '../src/control-plane/jobCommands';
import type { JobRow } from '../src/control-plane/jobStore';
import { sendWake } from '../src/control-plane/wake';
import { onCleanup, runBench } from './cleanup';
import { startControlPlane } from '../test/helpers/controlPlane';
import { startDataServer } from '../test/helpers/dataServer';
import { makeNode, type TestNode } from '../test/helpers/node';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const JOBS = Number(process.env.BENCH_JOBS ?? 6);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 1000);
const TIMEOUT_MS = HEARTBEAT_MS * 5;
const JOB_BYTES = 8 * 1024 * 1024;
const FINAL = new Set(['Succeeded', 'Failed', 'Cancelled']);
const json = process.argv.includes('--json');
const log = (text: string) => {
  if (!json) console.error(text);
};

async function mustCli(node: TestNode, args: string[], stdin?: string): Promise<unknown> {
  const result = await node.cli([...args, '--json'], stdin);
  if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  return result.json;
}

async function until<T>(
  what: string,
  read: () => T,
  ok: (value: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms`);
    await sleep(10);
  }
}

interface Round {
  round: number;
  victim: string;
  victimJobs: number;
  killToResumedMs: number;
  killToAllDoneMs: number;
  lost: number;
}

async function main(): Promise<void> {
  const token = randomBytes(16).toString('hex');
  const slowData = randomBytes(JOB_BYTES);
  const expected = createHash('sha256').update(slowData).digest('hex');
  const data = startDataServer({ token, slowData });
  await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
  const closeData = onCleanup('data server', () => {
    data.server.closeAllConnections();
    data.server.close();
  });
  const webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;

  const cp = await startControlPlane({ heartbeatIntervalMs: HEARTBEAT_MS, heartbeatTimeoutMs: TIMEOUT_MS });
  // Failover is timed here, not join approval: nodes are let in as they register.
  const key = (await cp.createIr('bench-ha', ['--join-approval', 'auto'])).key1;
  const nodes = ['bench-ha1', 'bench-ha2', 'bench-ha3'].map((name) =>
    makeNode({ OPENIR_VAULT: 'file' }, name),
  );
  for (const node of nodes) {
    await node.startHost();
    await node.enableRemoteAccess();
    await mustCli(
      node,
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
      `${token}\n`,
    );
    await mustCli(node, ['register', '--key-stdin'], key);
  }
  const session = openAdminSession(cp.dataDir);
  const closeSession = onCleanup('admin session', () => session.close());
  const job = (id: string) => session.store.jobs.find(id) as JobRow;
  const rounds: Round[] = [];

  for (let round = 1; round <= ROUNDS; round += 1) {
    log(`round ${round}: ${JOBS} jobs…`);
    await waitAllOnline(session);
    const ids = await submitAll(session, JOBS);
    const running = await until(
      'all jobs running',
      () => ids.map(job),
      (all) => all.every((j) => j.state === 'Running' && j.bytes > 0),
    );
    const counts = new Map<string, string[]>();
    for (const j of running) counts.set(j.nodeName ?? '?', [...(counts.get(j.nodeName ?? '?') ?? []), j.id]);
    const [victimName, victimIds] = [...counts.entries()].sort((a, b) => b[1].length - a[1].length)[0] as [
      string,
      string[],
    ];
    const victim = nodes[['bench-ha1', 'bench-ha2', 'bench-ha3'].indexOf(victimName)] as TestNode;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const resumed = await until(
      'the killed node’s jobs running elsewhere',
      () => victimIds.map(job),
      (all) =>
        all.every(
          (j) => j.attempt > 1 && j.startedAtMs !== null && (j.state === 'Running' || FINAL.has(j.state)),
        ),
    );
    const finished = await until(
      'every job finished',
      () => ids.map(job),
      (all) => all.every((j) => FINAL.has(j.state)),
    );
    const lost = finished.filter((j) => {
      if (j.state !== 'Succeeded' || j.sha256 !== expected) return true;
      const staged = path.join(cp.dataDir, 'staging', j.id);
      return createHash('sha256').update(fs.readFileSync(staged)).digest('hex') !== expected;
    }).length;
    rounds.push({
      round,
      victim: victimName,
      victimJobs: victimIds.length,
      killToResumedMs: Math.max(...resumed.map((j) => (j.startedAtMs as number) - killedAt)),
      killToAllDoneMs: Math.max(...finished.map((j) => (j.finishedAtMs as number) - killedAt)),
      lost,
    });
    for (const id of ids) fs.rmSync(path.join(cp.dataDir, 'staging', id), { force: true });
    await victim.startHost();
  }

  await closeSession();
  await closeData();

  if (json) {
    console.log(
      JSON.stringify({ heartbeatIntervalMs: HEARTBEAT_MS, heartbeatTimeoutMs: TIMEOUT_MS, rounds }, null, 2),
    );
    return;
  }
  console.log(
    `\nfailover: 3 nodes, ${JOBS} jobs of ${JOB_BYTES / 1024 / 1024} MiB per round, heartbeat ${HEARTBEAT_MS} ms, timeout ${TIMEOUT_MS} ms`,
  );
  console.table(
    rounds.map((r) => ({
      round: r.round,
      killed: `${r.victim} (${r.victimJobs} jobs)`,
      'kill → resumed (ms)': r.killToResumedMs,
      'goal < 2 × timeout':
        r.killToResumedMs < 2 * TIMEOUT_MS ? `yes (< ${2 * TIMEOUT_MS})` : `NO (≥ ${2 * TIMEOUT_MS})`,
      'kill → all done (ms)': r.killToAllDoneMs,
      'jobs lost (goal 0)': r.lost,
    })),
  );
}

async function submitAll(session: AdminSession, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const result = submitJob(session, {
      ir: 'bench-ha',
      source: `web:slow/${JOB_BYTES}`,
      sink: 'staging',
      format: 'raw',
    });
    ids.push((result.json as { id: string }).id);
  }
  await sendWake(session.dataDir);
  return ids;
}

async function waitAllOnline(session: AdminSession): Promise<void> {
  await until(
    'three Online nodes',
    () => session.registry.summaryByName('bench-ha'),
    (ir) => ir.nodes.length === 3 && ir.nodes.every((n) => n.status === 'Online'),
  );
}

runBench(main);
