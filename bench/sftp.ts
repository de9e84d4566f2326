/**
 * SFTP throughput, against real processes: a private OpenSSH sshd
 * (test/helpers/sshd.ts), the control plane and an OpenIR host. Prints a
 * table, or JSON with --json.
 *
 * Upload: a job copying a BENCH_SFTP_MB (256) MB local file to the SFTP
 * server (startedAt → finishedAt from the control plane: sign-in, the write
 * to a temp name, fsync, rename), next to OpenSSH's `sftp -b` putting the same
 * file. Download: a job copying it back from SFTP to a local folder, next to
 * `sftp -b` getting it. Both sign in with the same private key; each side
 * takes its own default cipher. BENCH_SFTP_RUNS (5) runs, each side going
 * first every other run; the ratio is the median of the runs' own ratios (the
 * two sides of a run ran back to back), the goal ≥ 90 %. The job is polled
 * submitted and polled from this process over the admin API, so no CLI
 * process takes CPU from it.
 * Next to each, the CPU seconds per transfer (median): the host's for the
 * job, the sftp and ssh processes' for OpenSSH (the server's are left out:
 * both sides pay them).
 *
 * Needs root (sshd checks passwords in /etc/shadow, and the helper creates its
 * user): `npx tsx bench/sftp.ts`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { JobView } from '../src/control-plane/jobStore';
import { onCleanup, runBench } from './cleanup';
import { cpuSecondsOf, median, medianRatio } from './stats';
import { startControlPlane } from '../test/helpers/controlPlane';
import { makeNode, type StatusJson } from '../test/helpers/node';
import { findSshd, sftpCredentialArgs, startSshd, stopAllSshd } from '../test/helpers/sshd';
import { tempDir } from '../test/helpers/tmp';

const SIZE_MB = Number(process.env.BENCH_SFTP_MB ?? 256);
const RUNS = Number(process.env.BENCH_SFTP_RUNS ?? 5);
const FINAL = new Set(['Succeeded', 'Failed', 'Cancelled']);
const json = process.argv.includes('--json');
const log = (text: string) => {
  if (!json) console.error(text);
};

/** Runs `sftp -b -` with the batch on stdin; answers the wall time in ms. */
function sftpBatch(args: string[], batch: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sftp', ['-q', '-b', '-', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`sftp -b failed (${code}): ${stderr}`)),
    );
    child.stdin.end(batch);
  });
}

async function main(): Promise<void> {
  const found = findSshd();
  if (!found.found) throw new Error(`Cannot run the SFTP bench: ${found.reason}`);
  onCleanup('sshd', stopAllSshd);
  const server = await startSshd();
  const size = SIZE_MB * 1024 * 1024;
  const local = tempDir('openir-bench-sftp-');
  fs.mkdirSync(path.join(local, 'in'));
  fs.mkdirSync(path.join(local, 'native'));
  const file = path.join(local, 'in', 'data.bin');
  const fd = fs.openSync(file, 'w');
  for (let written = 0; written < size; written += 16 * 1024 * 1024)
    fs.writeSync(fd, randomBytes(Math.min(16 * 1024 * 1024, size - written)));
  fs.closeSync(fd);
  fs.chmodSync(file, 0o644);

  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 60_000 });
  const key = (await cp.adminOk<{ key1: string }>(['ir', 'create', 'bench-sftp'])).key1;
  const node = makeNode({}, 'bench-sftp-node');
  await node.startHost();
  const ok = (result: { code: number; stderr: string }) => {
    if (result.code !== 0) throw new Error(result.stderr);
  };
  ok(await node.cli(['config', 'allow-folder', local]));
  ok(await node.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', local]));
  ok(
    await node.cli(
      sftpCredentialArgs('sftp', server, [
        '--private-key-file',
        server.keyFile,
        '--host-key',
        server.fingerprint,
      ]),
    ),
  );
  const registered = await node.cli(['register', '--key-stdin', '--json'], key);
  const status = registered.json as StatusJson | undefined;
  if (status?.status !== 'Online') throw new Error(registered.stderr);
  const hostPid = status.host.pid;
  /** CPU seconds per transfer: the host's for a job, the sftp and ssh processes' for OpenSSH (/proc). */
  const cpu = {
    openirUp: [] as number[],
    nativeUp: [] as number[],
    openirDown: [] as number[],
    nativeDown: [] as number[],
  };
  const cpuOf = async <T>(side: keyof typeof cpu, pid: number | 'self-children', step: () => Promise<T>) => {
    const before = cpuSecondsOf(pid);
    const result = await step();
    cpu[side].push(cpuSecondsOf(pid) - before);
    return result;
  };

  const job = async (source: string, sink: string): Promise<number> => {
    // Submitted and polled from this process over the admin API: no CLI process next to the job.
    const submitted = await cp.adminApi<JobView>('POST', '/jobs', {
      ir: 'bench-sftp',
      source,
      sink,
      format: 'raw',
    });
    const done = await cp.waitJob(submitted.id, (j) => FINAL.has(j.state), 600_000, 50);
    if (done.state !== 'Succeeded' || !done.startedAt || !done.finishedAt)
      throw new Error(`job ${done.id} ${done.state}: ${done.reason ?? ''}`);
    return Date.parse(done.finishedAt) - Date.parse(done.startedAt);
  };
  const sftpArgs = [
    '-i',
    server.keyFile,
    '-P',
    String(server.port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    `${server.user}@${server.host}`,
  ];
  const remoteName = (name: string) => path.join(server.root, name);

  const rates = {
    openirUp: [] as number[],
    nativeUp: [] as number[],
    openirDown: [] as number[],
    nativeDown: [] as number[],
  };
  const mbps = (ms: number) => size / 1024 / 1024 / (ms / 1000);
  for (let run = 1; run <= RUNS; run += 1) {
    // Each side goes first every other run, so neither always meets the server (or the page cache) fresher.
    const jobFirst = run % 2 === 1;
    log(
      `run ${run}/${RUNS}: upload, then download, ${jobFirst ? 'OpenIR job then sftp -b' : 'sftp -b then OpenIR job'} each…`,
    );
    const jobUp = async () =>
      rates.openirUp.push(
        mbps(await cpuOf('openirUp', hostPid, () => job('files:in/data.bin', 'sftp:openir.bin'))),
      );
    const nativeUp = async () => {
      rates.nativeUp.push(
        mbps(
          await cpuOf('nativeUp', 'self-children', () =>
            sftpBatch(sftpArgs, `put ${file} ${remoteName('native.bin')}\n`),
          ),
        ),
      );
      if (fs.statSync(remoteName('native.bin')).size !== size) throw new Error('sftp put wrote another size');
    };
    // Each side downloads what the other uploaded.
    const jobDown = async () => {
      rates.openirDown.push(
        mbps(
          await cpuOf('openirDown', hostPid, () => job('sftp:native.bin', `files:back/openir-${run}.bin`)),
        ),
      );
      if (fs.statSync(path.join(local, 'back', `openir-${run}.bin`)).size !== size)
        throw new Error('the download job wrote another size');
    };
    const nativeDown = async () =>
      rates.nativeDown.push(
        mbps(
          await cpuOf('nativeDown', 'self-children', () =>
            sftpBatch(sftpArgs, `get ${remoteName('openir.bin')} ${path.join(local, 'native', 'got.bin')}\n`),
          ),
        ),
      );
    for (const step of jobFirst
      ? [jobUp, nativeUp, jobDown, nativeDown]
      : [nativeUp, jobUp, nativeDown, jobDown])
      await step();
    fs.rmSync(path.join(local, 'back', `openir-${run}.bin`));
    fs.rmSync(path.join(local, 'native', 'got.bin'));
  }
  const rows = [
    {
      direction: 'upload (local → SFTP)',
      openir: median(rates.openirUp),
      native: median(rates.nativeUp),
      ratio: medianRatio(rates.openirUp, rates.nativeUp),
      cpu: [cpu.openirUp, cpu.nativeUp] as const,
    },
    {
      direction: 'download (SFTP → local)',
      openir: median(rates.openirDown),
      native: median(rates.nativeDown),
      ratio: medianRatio(rates.openirDown, rates.nativeDown),
      cpu: [cpu.openirDown, cpu.nativeDown] as const,
    },
  ];
  if (json) {
    console.log(JSON.stringify({ sizeMB: SIZE_MB, runs: RUNS, rates, cpu, rows }, null, 2));
    return;
  }
  console.log(
    `\nSFTP throughput, ${SIZE_MB} MB file, ${RUNS} runs: median MB/s, and the median of the runs' ratios (goal: OpenIR ≥ 90 % of OpenSSH sftp)\n`,
  );
  console.log(
    '| Direction | OpenIR job MB/s | OpenSSH `sftp -b` MB/s | Ratio | Goal met | CPU s: host / sftp + ssh |',
  );
  console.log('|---|---:|---:|---:|:---:|---:|');
  for (const row of rows) {
    console.log(
      `| ${row.direction} | ${row.openir.toFixed(1)} | ${row.native.toFixed(1)} | ${(row.ratio * 100).toFixed(0)} % | ${row.ratio >= 0.9 ? 'yes' : 'no'} | ${median(row.cpu[0]).toFixed(2)} / ${median(row.cpu[1]).toFixed(2)} |`,
    );
  }
  console.log(
    `\nEvery run's ratio: up ${rates.openirUp.map((v, i) => `${((v / (rates.nativeUp[i] ?? NaN)) * 100).toFixed(0)} %`).join(', ')}; down ${rates.openirDown.map((v, i) => `${((v / (rates.nativeDown[i] ?? NaN)) * 100).toFixed(0)} %`).join(', ')}.`,
  );
  console.log(
    `Every run (MB/s): OpenIR up ${rates.openirUp.map((r) => r.toFixed(1)).join(', ')}; sftp up ${rates.nativeUp.map((r) => r.toFixed(1)).join(', ')}; OpenIR down ${rates.openirDown.map((r) => r.toFixed(1)).join(', ')}; sftp down ${rates.nativeDown.map((r) => r.toFixed(1)).join(', ')}.`,
  );
}

runBench(main);
