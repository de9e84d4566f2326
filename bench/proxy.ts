/**
 * Control-channel reconnect time after a proxy change: `setProxy` (save,
 * restart the host service) until the node is Online again through the new
 * proxy, alternating between two real tinyproxies. Prints a table, or JSON
 * with --json.
 */
import { performance } from 'node:perf_hooks';
import { runHost } from '../src/core/runHost';
import type { ProxyInput } from '../src/shared/proxy';
import { onCleanup, runBench } from './cleanup';
import { startControlPlane } from '../test/helpers/controlPlane';
import { startTinyproxy } from '../test/helpers/tinyproxy';
import { tempDir } from '../test/helpers/tmp';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);

async function main(): Promise<void> {
  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000 });
  const key = (await cp.createIr('bench-proxy')).key1;
  const proxies = [
    await startTinyproxy({ connectPorts: [cp.port] }),
    await startTinyproxy({ connectPorts: [cp.port], basicAuth: { user: 'u', password: 'bench-pass' } }),
  ];
  const running = await runHost({
    home: tempDir('openir-bench-'),
    env: { ...process.env, OPENIR_VAULT: 'file', OPENIR_FQDN: 'bench.proxy' },
    localApi: false,
  });
  const closeHost = onCleanup('in-process host', () => running.close());
  const { host } = running;
  await host.register({ authKey: key, nodeName: 'bench-proxy' });

  const onlineAgain = () =>
    new Promise<void>((resolve) => {
      let sawRestart = false;
      const off = host.events.on('statusChanged', (s) => {
        if (s.status !== 'Online') sawRestart = true;
        else if (sawRestart) {
          off();
          resolve();
        }
      });
    });

  const samples: { to: string; ms: number; connects: number }[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const proxy = proxies[i % 2] as (typeof proxies)[number];
    const input: ProxyInput =
      i % 2 === 0
        ? { mode: 'custom', address: '127.0.0.1', port: proxy.port }
        : { mode: 'custom', address: '127.0.0.1', port: proxy.port, user: 'u', password: 'bench-pass' };
    const before = proxy.connects().length;
    const online = onlineAgain();
    const t0 = performance.now();
    await host.setProxy(input);
    await online;
    samples.push({
      to: i % 2 === 0 ? 'open proxy' : 'Basic-auth proxy',
      ms: performance.now() - t0,
      connects: proxy.connects().length - before,
    });
  }
  await closeHost();

  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const summary = {
    runs: sorted.length,
    min: sorted[0] ?? NaN,
    p50: at(0.5),
    p90: at(0.9),
    max: sorted[sorted.length - 1] ?? NaN,
  };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ samples, summary }, null, 2));
    return;
  }
  console.log(`proxy change → control channel Online again through the new proxy (ms), ${RUNS} changes`);
  console.table(samples.map((s) => ({ ...s, ms: s.ms.toFixed(1) })));
  console.table([
    {
      measure: 'reconnect after proxy change',
      ...Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, k === 'runs' ? v : v.toFixed(1)])),
    },
  ]);
}

runBench(main);
