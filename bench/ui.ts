/**
 * UI budget: the renderer bundle gzipped (goal < 250 KB) and the headless
 * host's idle resident memory with the web UI on (goal < 80 MB).
 * Prints a table, or JSON with --json. Run `npm run build` first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { onCleanup, runBench } from './cleanup';
import { startWebHost } from '../test/helpers/webHost';

const ASSETS = path.join(__dirname, '..', 'dist', 'renderer', 'assets');

function bundleSizes() {
  const files = fs.readdirSync(ASSETS).filter((f) => /\.(js|css)$/.test(f));
  return files.map((file) => {
    const bytes = fs.readFileSync(path.join(ASSETS, file));
    return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

function rssBytes(pid: number): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function main(): Promise<void> {
  const sizes = bundleSizes();
  const gzipTotal = sizes.reduce((sum, s) => sum + s.gzip, 0);
  const web = await startWebHost({ OPENIR_VAULT: 'file' });
  const stopWeb = onCleanup('web host', () => web.stop());
  // Let start-up garbage settle, then sample the idle host a few times.
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    samples.push(rssBytes(web.process.pid ?? 0));
    await sleep(500);
  }
  await stopWeb();
  const rss = Math.max(...samples);
  const rows = [
    {
      measure: 'renderer bundle, gzipped (JS + CSS)',
      value: `${(gzipTotal / 1024).toFixed(1)} KB`,
      goal: '< 250 KB',
      ok: gzipTotal < 250 * 1024,
    },
    {
      measure: 'headless host idle RSS (max of 5)',
      value: `${(rss / 1024 / 1024).toFixed(1)} MB`,
      goal: '< 80 MB',
      ok: rss < 80 * 1024 * 1024,
    },
  ];
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ bundle: sizes, gzipTotal, rssBytes: rss, rows }, null, 2));
  } else {
    console.table(
      sizes.map((s) => ({
        file: s.file,
        raw: `${(s.raw / 1024).toFixed(1)} KB`,
        gzip: `${(s.gzip / 1024).toFixed(1)} KB`,
      })),
    );
    console.table(rows);
  }
}

runBench(main);
