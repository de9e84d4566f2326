/**
 * Jobs, measured against real processes (control plane, an OpenIR host, curl,
 * PostgreSQL). Prints tables, or JSON with --json.
 *
 * (a) Dispatch latency over BENCH_JOBS (1,000) small jobs, one at a time:
 *     submit (the row `job submit` inserts, then the wake it sends) → the
 *     node's `jobAccepted`, from the control plane's own timestamps
 *     (createdAt → dispatchedAt → startedAt). The CLI's process start is left
 *     out: it is Node's, not the dispatcher's.
 * (b) Copy throughput of a BENCH_COPY_MB (256) MB local file to control-plane
 *     staging by a job (startedAt → finishedAt, i.e. the staged upload
 *     committed) vs `curl -T` of the same file to the same staging endpoint,
 *     with the node's credential header (read from the node's encrypted-file
 *     vault, as register.test.ts does) and `--cacert <cp data>/tls/cert.pem`
 *     (the certificate names 127.0.0.1, so no -k or --resolve). The staging
 *     route takes uploads only for a job running on that node, so curl uploads
 *     for a job held Running by a source that sends headers and then nothing.
 *     Next to each, the sender's CPU time: the host process's, from /proc,
 *     over the job; curl's, from `times` in the shell that ran it.
 * (c) Rows/s from PostgreSQL: a 1,000,000-row table (about 160 MB as CSV) to
 *     staging as CSV and as NDJSON, next to `psql \copy` of the same query.
 *     Skipped, with the reason, when no PostgreSQL server binaries are installed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openAdminSession, type AdminSession } from '../src/control-plane/admin';
import { cancelJob, submitJob } from '../src/control-plane/jobCommands';
import type { JobRow } from '../src/control-plane/jobStore';
import { sendWake } from '../src/control-plane/wake';
import { FileVault } from '../src/core/vault';
import { channelAuthorization } from '../src/shared/controlPlaneApi';
import { stagingPath } from '../src/shared/jobs';
import { killGroup, onCleanup, runBench, trackGroup } from './cleanup';
import { startControlPlane } from '../test/helpers/controlPlane';
import { makeNode, type StatusJson, type TestNode } from '../test/helpers/node';
import { findPostgresBin, startPostgres, postgresCredentialArgs } from '../test/helpers/postgres';
import { tempDir } from '../test/helpers/tmp';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const COPY_MB = Number(process.env.BENCH_COPY_MB ?? 256);
const COPY_RUNS = Number(process.env.BENCH_COPY_RUNS ?? 3);
const PG_ROWS = Number(process.env.BENCH_PG_ROWS ?? 1_000_000);
const JOB_TIMEOUT_MS = 120_000;
const FINAL = new Set(['Succeeded', 'Failed', 'Cancelled']);
const json = process.argv.includes('--json');

function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { n: sorted.length, min: sorted[0] ?? NaN, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}
const median = (values: number[]) => percentiles(values).p50;
const log = (text: string) => {
  if (!json) console.error(text);
};

/** Queues a job as `openir-control-plane job submit` does (insert, then wake the server). */
async function submit(session: AdminSession, source: string, format = 'raw'): Promise<string> {
  const result = submitJob(session, { ir: 'bench-jobs', source, sink: 'staging', format });
  const id = (result.json as { id: string }).id;
  await sendWake(session.dataDir);
  return id;
}

async function waitJob(
  session: AdminSession,
  id: string,
  predicate: (job: JobRow) => boolean,
  pollMs = 2,
): Promise<JobRow> {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    const job = session.store.jobs.find(id);
    if (job && predicate(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} never matched: ${JSON.stringify(job)}`);
    await sleep(pollMs);
  }
}

async function mustCli(node: TestNode, args: string[], stdin?: string): Promise<unknown> {
  const result = await node.cli([...args, '--json'], stdin);
  if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  return result.json;
}

/** `curl -T file` to the staging endpoint; resolves to curl's own total time and upload speed. */
function curlUpload(
  url: string,
  file: string,
  caFile: string,
  headers: Record<string, string>,
): Promise<{ seconds: number; bytesPerSecond: number; cpuSeconds: number }> {
  const args = ['-sS', '--fail-with-body', '-o', '/dev/null', '--cacert', caFile, '-T', file];
  // The credential goes in a header file (not argv), as a careful operator would.
  const headerFile = path.join(tempDir('openir-bench-curl-'), 'headers');
  fs.writeFileSync(
    headerFile,
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
  args.push('-H', `@${headerFile}`, '-w', '%{time_total} %{speed_upload} %{http_code}', url);
  return new Promise((resolve, reject) => {
    // Under sh, whose `times` prints its children's user and system CPU time when curl is done.
    // In its own process group: a timeout (or the bench's cleanup) kills curl too, not only sh.
    const script = 'curl "$@"; status=$?; times >&2; exit $status';
    const child = spawn('sh', ['-c', script, 'sh', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const untrack = trackGroup(child, 'curl');
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), JOB_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      void untrack();
      const [seconds, speed, status] = out.trim().split(' ');
      // The last line of `times`: the children's user and system time, e.g. "0m0.120000s 0m0.150000s".
      const times = [...err.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
      const cpuSeconds = times
        ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])
        : NaN;
      if (code !== 0 || status !== '200') reject(new Error(`curl failed (${code}, HTTP ${status}): ${err}`));
      else resolve({ seconds: Number(seconds), bytesPerSecond: Number(speed), cpuSeconds });
    });
  });
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's user + system CPU time so far, from /proc (Linux); NaN elsewhere. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime, stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** An HTTP data store that answers 200 and then sends nothing: keeps a job Running for as long as needed. */
async function startStallServer(): Promise<{ url: string; close(): void }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.flushHeaders();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function main(): Promise<void> {
  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000 });
  const key = (await cp.createIr('bench-jobs')).key1;
  const dataRoot = tempDir('openir-bench-data-');
  const stall = await startStallServer();
  const closeStall = onCleanup('stall server', () => stall.close());
  const node = makeNode({ OPENIR_VAULT: 'file' }, 'bench-jobs-node');
  await node.startHost();
  await mustCli(node, ['config', 'allow-folder', dataRoot]);
  await mustCli(node, ['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
  await mustCli(node, ['credential', 'set', 'stall', '--type', 'http', '--base-url', stall.url]);
  const status = (await mustCli(node, ['register', '--key-stdin'], key)) as StatusJson;
  if (status.status !== 'Online' || !status.node) throw new Error(`node is ${status.status}`);
  const session = openAdminSession(cp.dataDir);
  const closeSession = onCleanup('admin session', () => session.close());

  // (a) dispatch latency
  fs.writeFileSync(path.join(dataRoot, 'small.csv'), 'id,name\n1,a\n2,b\n');
  log(`(a) ${JOBS} small jobs, one at a time…`);
  const toDispatched: number[] = [];
  const toAccepted: number[] = [];
  const toFinished: number[] = [];
  for (let i = 0; i < JOBS; i += 1) {
    const id = await submit(session, 'files:small.csv', 'csv');
    const job = await waitJob(session, id, (j) => FINAL.has(j.state));
    if (job.state !== 'Succeeded' || job.dispatchedAtMs === null || job.startedAtMs === null) {
      throw new Error(`small job ${id} ended ${job.state}: ${job.reason}`);
    }
    toDispatched.push(job.dispatchedAtMs - job.createdAtMs);
    toAccepted.push(job.startedAtMs - job.createdAtMs);
    toFinished.push((job.finishedAtMs ?? NaN) - job.createdAtMs);
  }
  const dispatch = [
    { measure: 'submit → dispatched (pushed to the node)', ...percentiles(toDispatched) },
    { measure: 'submit → jobAccepted (goal p50 < 20, p99 < 100)', ...percentiles(toAccepted) },
    { measure: 'submit → Succeeded (3-line CSV to staging)', ...percentiles(toFinished) },
  ];

  // (b) copy throughput vs curl
  const big = path.join(dataRoot, 'big.bin');
  log(`(b) writing a ${COPY_MB} MB file…`);
  {
    const fd = fs.openSync(big, 'w');
    const block = randomBytes(1024 * 1024);
    for (let i = 0; i < COPY_MB; i += 1) fs.writeSync(fd, block);
    fs.closeSync(fd);
  }
  const size = fs.statSync(big).size;
  const held = await submit(session, 'stall:hold');
  const heldJob = await waitJob(session, held, (j) => j.state === 'Running', 10);
  const credential = await new FileVault(path.join(node.home, 'vault')).get('node-credential');
  if (!credential) throw new Error('no node credential in the vault');
  const url = new URL(stagingPath(held), cp.endpoint).href;
  const curlHeaders = {
    authorization: channelAuthorization(status.node.id, credential),
    'content-type': 'application/octet-stream',
    'x-openir-attempt': String(heldJob.attempt),
  };
  const caFile = path.join(cp.dataDir, 'tls', 'cert.pem');
  const nodeRates: number[] = [];
  const curlRates: number[] = [];
  const nodeCpu: number[] = [];
  const curlCpu: number[] = [];
  for (let run = 0; run < COPY_RUNS; run += 1) {
    log(`(b) run ${run + 1}/${COPY_RUNS}: job, then curl…`);
    const cpuBefore = cpuSecondsOf(status.host.pid);
    const id = await submit(session, 'files:big.bin');
    const job = await waitJob(session, id, (j) => FINAL.has(j.state), 10);
    // The host's CPU over the whole job: read, hash, TLS, progress, and its idle heartbeat (a few ms).
    nodeCpu.push(cpuSecondsOf(status.host.pid) - cpuBefore);
    if (job.state !== 'Succeeded' || job.startedAtMs === null || job.finishedAtMs === null) {
      throw new Error(`copy job ended ${job.state}: ${job.reason}`);
    }
    nodeRates.push(size / ((job.finishedAtMs - job.startedAtMs) / 1000));
    fs.rmSync(path.join(cp.dataDir, 'staging', id), { force: true });
    const curl = await curlUpload(url, big, caFile, curlHeaders);
    curlRates.push(size / curl.seconds);
    curlCpu.push(curl.cpuSeconds);
    fs.rmSync(path.join(cp.dataDir, 'staging', held), { force: true });
  }
  cancelJob(session, held);
  await sendWake(cp.dataDir);
  await waitJob(session, held, (j) => FINAL.has(j.state), 10);
  await closeStall();
  fs.rmSync(big);
  const mbps = (bytesPerSecond: number) => bytesPerSecond / 1e6;
  const copy = {
    bytes: size,
    runs: COPY_RUNS,
    jobMBps: nodeRates.map(mbps),
    curlMBps: curlRates.map(mbps),
    ratio: median(nodeRates) / median(curlRates),
    jobCpuSeconds: nodeCpu,
    curlCpuSeconds: curlCpu,
  };

  // (c) PostgreSQL rows/s
  const pgBin = findPostgresBin();
  let postgres: { skipped: string } | { rows: number; csvBytes: number; results: Record<string, unknown>[] };
  if (PG_ROWS <= 0) {
    postgres = { skipped: 'BENCH_PG_ROWS=0' };
  } else if (pgBin.bin === null) {
    postgres = { skipped: pgBin.reason };
  } else {
    log(`(c) PostgreSQL: loading ${PG_ROWS} rows…`);
    const pg = await startPostgres();
    const password = randomBytes(12).toString('hex');
    await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${password}'; CREATE DATABASE shop;`);
    await pg.sql(
      `CREATE UNLOGGED TABLE big AS SELECT g AS id, g::bigint * 7919 AS n, round((g % 100000) / 100.0, 2) AS amount,
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created,
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'ligne-é-' || g END AS label, repeat(md5(g::text), 2) AS payload
       FROM generate_series(1, ${PG_ROWS}) g;
       ALTER TABLE big ADD PRIMARY KEY (id); GRANT SELECT ON big TO reader; VACUUM ANALYZE big;`,
      'shop',
    );
    await mustCli(node, postgresCredentialArgs('pg', pg, { json: false }), `${password}\n`);
    const query = 'SELECT * FROM big ORDER BY id';
    const reference = await pg.copyCsvDigest(query, { database: 'shop', user: 'reader', password });
    const results: Record<string, unknown>[] = [
      {
        measure: 'psql \\copy (reference, CSV to a pipe)',
        rowsPerSecond: PG_ROWS / (reference.ms / 1000),
        MBps: reference.bytes / 1e6 / (reference.ms / 1000),
        note: '',
      },
    ];
    for (const format of ['csv', 'ndjson'] as const) {
      log(`(c) job, ${format}…`);
      const id = await submit(session, `pg:${query}`, format);
      const job = await waitJob(session, id, (j) => FINAL.has(j.state), 10);
      if (job.state !== 'Succeeded' || job.startedAtMs === null || job.finishedAtMs === null) {
        throw new Error(`PostgreSQL job ended ${job.state}: ${job.reason}`);
      }
      const seconds = (job.finishedAtMs - job.startedAtMs) / 1000;
      results.push({
        measure: `job PostgreSQL → staging, ${format}`,
        rowsPerSecond: (job.rows ?? NaN) / seconds,
        MBps: job.bytes / 1e6 / seconds,
        note: format === 'csv' ? (job.sha256 === reference.sha256 ? 'sha256 = psql' : 'sha256 DIFFERS') : '',
      });
      fs.rmSync(path.join(cp.dataDir, 'staging', id), { force: true });
    }
    postgres = { rows: PG_ROWS, csvBytes: reference.bytes, results };
  }

  await closeSession();

  if (json) {
    console.log(JSON.stringify({ dispatch, copy, postgres }, null, 2));
    return;
  }
  const ms = (v: number) => v.toFixed(1);
  console.log(`\n(a) dispatch latency, ${JOBS} small jobs one at a time (ms, control-plane timestamps)`);
  console.table(
    dispatch.map((d) => ({
      measure: d.measure,
      n: d.n,
      min: ms(d.min),
      p50: ms(d.p50),
      p99: ms(d.p99),
      max: ms(d.max),
    })),
  );
  console.log(
    `\n(b) copy of a ${(size / 1e6).toFixed(0)} MB local file to staging (MB/s and the sender's CPU seconds, median of ${COPY_RUNS})`,
  );
  console.table([
    {
      measure: 'OpenIR job (local file → HTTPS staging)',
      MBps: median(copy.jobMBps).toFixed(1),
      runs: copy.jobMBps.map((v) => v.toFixed(0)).join(' '),
      'CPU s (sender)': median(copy.jobCpuSeconds).toFixed(2),
    },
    {
      measure: 'curl -T, same bytes, same endpoint',
      MBps: median(copy.curlMBps).toFixed(1),
      runs: copy.curlMBps.map((v) => v.toFixed(0)).join(' '),
      'CPU s (sender)': median(copy.curlCpuSeconds).toFixed(2),
    },
    {
      measure: 'job / curl (goal ≥ 80 %)',
      MBps: `${(copy.ratio * 100).toFixed(0)} %`,
      runs: '',
      'CPU s (sender)': '',
    },
  ]);
  if ('skipped' in postgres) {
    console.log(`\n(c) PostgreSQL: skipped, ${postgres.skipped}`);
  } else {
    console.log(
      `\n(c) PostgreSQL, ${postgres.rows.toLocaleString('en')} rows (${(postgres.csvBytes / 1e6).toFixed(0)} MB as CSV)`,
    );
    console.table(
      postgres.results.map((r) => ({
        ...r,
        rowsPerSecond: Math.round(Number(r.rowsPerSecond)).toLocaleString('en'),
        MBps: Number(r.MBps).toFixed(1),
      })),
    );
  }
}

runBench(main);
