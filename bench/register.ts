/**
 * Register → Online time on loopback (goal < 500 ms), against the real control
 * plane process. Two views: the host service itself (in-process, what the UI
 * waits for), and the whole `openir register` command (new process, socket,
 * host, control plane). Prints a table, or JSON with --json.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runHost } from '../src/core/runHost';
import { startControlPlane, stopAll } from '../test/helpers/controlPlane';
import { makeNode, stopAllNodes } from '../test/helpers/node';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);

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

async function main(): Promise<void> {
  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000 });
  const created = await cp.admin(['ir', 'create', 'bench-ir', '--max-nodes', String(RUNS * 2 + 2)]);
  const key = (created.json as { key1: string }).key1;

  const inProcess: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const host = await runHost({
      home: tempDir('openir-bench-'),
      env: { ...process.env, OPENIR_VAULT: 'file', OPENIR_FQDN: `b${i}.bench` },
      localApi: false,
    });
    const t0 = performance.now();
    const status = await host.host.register({ authKey: key, nodeName: `inproc-${i}` });
    const ms = performance.now() - t0;
    if (status.status !== 'Online') throw new Error(`run ${i} ended ${status.status}`);
    inProcess.push(ms);
    await host.close();
  }

  const cli: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const node = makeNode({ OPENIR_VAULT: 'file' }, `cli-${i}`);
    await node.startHost();
    const t0 = performance.now();
    const result = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'dist', 'cli', 'main.js'), 'register', '--key-stdin', '--json'],
      {
        input: key,
        env: node.env,
      },
    );
    const ms = performance.now() - t0;
    const status = JSON.parse(result.stdout.toString()) as { status?: string };
    if (status.status !== 'Online') throw new Error(`cli run ${i}: ${result.stderr.toString()}`);
    cli.push(ms);
    await node.kill();
  }

  const rows = [
    { measure: 'host service register → Online', goalMs: 500, ...stats(inProcess) },
    { measure: '`openir register` command → Online', goalMs: 500, ...stats(cli) },
  ];
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(`register → Online on loopback, ${RUNS} runs each (ms)`);
    console.table(
      rows.map((r) => ({
        ...r,
        min: r.min.toFixed(1),
        p50: r.p50.toFixed(1),
        p90: r.p90.toFixed(1),
        max: r.max.toFixed(1),
      })),
    );
  }
  await stopAllNodes();
  await stopAll();
  cleanupTempDirs();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
