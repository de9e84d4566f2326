/**
 * Register → Online time on loopback (goal < 500 ms), against the real control
 * plane process. Three views:
 *
 * - the host service itself (in-process, what the UI waits for), registering
 *   the first node of a new IR;
 * - the same, joining an IR that already has a node;
 * - the whole `openir register` command (new process, socket, host, control
 *   plane), joining that IR; next to it, what starting the CLI alone costs
 *   (`openir --version`), which is Node's and the machine's, not registration's.
 *
 * The join rule: a second node may join an IR only while every node in it has
 * remote access from intranet enabled, and only with its own enabled (nodes
 * sync credentials over it). So the IR `bench-join` keeps one running first
 * node with remote access (without TLS, on a free loopback port); each joiner
 * enables it on its own free port before it registers and unregisters after
 * it is measured (neither is timed), so every run is the same join: the IR's
 * second node, with a live peer to sync with. Prints a table, or JSON with --json.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { onCleanup, runBench } from './cleanup';
import { runHost, type RunningHost } from '../src/core/runHost';
import { startControlPlane } from '../test/helpers/controlPlane';
import { freePort, makeNode, type StatusJson } from '../test/helpers/node';
import { tempDir } from '../test/helpers/tmp';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const CLI_TIMEOUT_MS = 60_000;

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    runs: sorted.length,
    min: sorted[0] ?? NaN,
    p50: at(0.5),
    p90: at(0.9),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** An in-process host in a fresh home; remote access binds and advertises loopback, as test nodes do. */
async function inProcessHost(fqdn: string): Promise<RunningHost> {
  const running = await runHost({
    home: tempDir('openir-bench-'),
    env: {
      ...process.env,
      OPENIR_VAULT: 'file',
      OPENIR_FQDN: fqdn,
      OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1',
      OPENIR_ADVERTISE_HOST: '127.0.0.1',
    },
    localApi: false,
  });
  // close() stops it now, and not again at the end.
  return { ...running, close: onCleanup(`in-process host ${fqdn}`, () => running.close()) };
}

async function main(): Promise<void> {
  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000 });

  // First node of an IR: a new IR each run, so no join rule applies.
  const firstNode: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const { key1 } = await cp.createIr(`bench-first-${i}`);
    const running = await inProcessHost(`first${i}.bench`);
    const t0 = performance.now();
    const status = await running.host.register({ authKey: key1, nodeName: `first-${i}` });
    const ms = performance.now() - t0;
    if (status.status !== 'Online') throw new Error(`first-node run ${i} ended ${status.status}`);
    firstNode.push(ms);
    await running.close();
  }

  // The IR every joiner joins: its first node runs throughout, with remote access.
  // Joining is timed to Online, so nodes are let in as they register (no admin in the loop).
  const { key1: key } = await cp.createIr('bench-join', ['--max-nodes', '2', '--join-approval', 'auto']);
  const first = makeNode({ OPENIR_VAULT: 'file' }, 'bench-join-first');
  await first.startHost();
  await first.enableRemoteAccess();
  const firstStatus = await first.cli(['register', '--key-stdin', '--json'], key);
  if ((firstStatus.json as StatusJson | null)?.status !== 'Online') {
    throw new Error(`first node of bench-join: ${firstStatus.stderr}${firstStatus.stdout}`);
  }

  const inProcessJoin: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const running = await inProcessHost(`join${i}.bench`);
    await running.host.setRemoteAccess({ mode: 'plain', port: await freePort() });
    const t0 = performance.now();
    const status = await running.host.register({ authKey: key, nodeName: `inproc-${i}` });
    const ms = performance.now() - t0;
    if (status.status !== 'Online') throw new Error(`join run ${i} ended ${status.status}`);
    inProcessJoin.push(ms);
    await running.host.unregister({});
    await running.close();
  }

  const cli: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const node = makeNode({ OPENIR_VAULT: 'file' }, `cli-${i}`);
    await node.startHost();
    await node.enableRemoteAccess();
    const t0 = performance.now();
    const result = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'dist', 'cli', 'main.js'), 'register', '--key-stdin', '--json'],
      { input: key, env: node.env, timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' },
    );
    const ms = performance.now() - t0;
    let status: { status?: string } = {};
    try {
      status = JSON.parse(result.stdout.toString()) as { status?: string };
    } catch {
      // reported below
    }
    if (status.status !== 'Online') {
      throw new Error(`cli run ${i}: ${result.error?.message ?? ''}${result.stderr}${result.stdout}`);
    }
    cli.push(ms);
    const unregistered = await node.cli(['unregister', '--json']);
    if (unregistered.code !== 0) throw new Error(`cli run ${i} unregister: ${unregistered.stderr}`);
    await node.kill();
  }

  // What every CLI run pays before it does anything: Node's start and loading the CLI.
  const processStart: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const t0 = performance.now();
    const result = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'dist', 'cli', 'main.js'), '--version'],
      {
        timeout: CLI_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      },
    );
    if (result.status !== 0)
      throw new Error(`openir --version: ${result.error?.message ?? ''}${result.stderr}`);
    processStart.push(performance.now() - t0);
  }

  const rows = [
    { measure: 'host service register → Online, first node', goalMs: 500, ...stats(firstNode) },
    { measure: 'host service register → Online, joining', goalMs: 500, ...stats(inProcessJoin) },
    { measure: '`openir register` command → Online, joining', goalMs: 500, ...stats(cli) },
    { measure: 'of which process start: `openir --version`', goalMs: NaN, ...stats(processStart) },
  ];
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(`register → Online on loopback, ${RUNS} runs each (ms)`);
    console.table(
      rows.map((r) => ({
        ...r,
        goalMs: Number.isNaN(r.goalMs) ? '' : r.goalMs,
        min: r.min.toFixed(1),
        p50: r.p50.toFixed(1),
        p90: r.p90.toFixed(1),
        max: r.max.toFixed(1),
      })),
    );
  }
}

runBench(main);
