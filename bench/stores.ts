/**
 * Data stores, measured against real processes (control plane, an OpenIR
 * host, Azurite, MariaDB, PostgreSQL), each figure next to the native or
 * reference client on the same bytes in the same run. Prints one table, or
 * JSON with --json.
 *
 * - Blob upload / download MB/s: a job local folder → blob and blob → local
 *   folder (control-plane startedAt → finishedAt) vs the SDK's own
 *   `BlockBlobClient.uploadFile` / `BlobClient.downloadToFile` with their
 *   defaults, in this process, of the same BENCH_BLOB_MB (256) MB file;
 *   BENCH_RUNS (3) runs, job and SDK taking turns to go first.
 * - MariaDB → Blob rows/s: BENCH_MY_ROWS (1,000,000) rows of the typed table
 *   (every converted type) as CSV to a blob vs `mariadb --batch --quick` of
 *   the same SELECT to a file; and the same job to a local file, as the
 *   reference writes. Under the table, where the CPU went on each side (the
 *   host or the client, mariadbd, Azurite; /proc): on a 2-core machine
 *   Azurite's share is taken from the copy it receives. "wall at least" is
 *   a run's CPU seconds over the cores, the shortest it could take here; the
 *   line under it says what ratio that bound leaves the job → Blob run.
 * - PostgreSQL sink rows/s: a BENCH_PG_ROWS (1,000,000)-row CSV file into a
 *   table (job with --mode truncate) vs `psql \copy … FROM` of the same file
 *   into the same table (truncated first).
 * - The host's RSS growth while a job copies BENCH_RSS_MB (1024) MB local →
 *   blob, its first data job: VmRSS from /proc every 50 ms, peak less the
 *   median of the 2 s idle before the job.
 *
 * Each ratio is the median of the runs' own ratios (stats.ts): the two sides
 * of a run ran back to back.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { openAdminSession, type AdminSession } from '../src/control-plane/admin';
import { submitJob } from '../src/control-plane/jobCommands';
import type { JobRow } from '../src/control-plane/jobStore';
import { sendWake } from '../src/control-plane/wake';
import { onCleanup, runBench, trackGroup } from './cleanup';
import { cpuSecondsOf, median, medianRatio } from './stats';
import { blobCredentialArgs, AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../test/helpers/azurite';
import { startControlPlane } from '../test/helpers/controlPlane';
import {
  createTypedTable,
  findMariadb,
  mysqlCredentialArgs,
  startMariadb,
  type RunningMariadb,
} from '../test/helpers/mariadb';
import { makeNode, type StatusJson, type TestNode } from '../test/helpers/node';
import { findPostgresBin, postgresCredentialArgs, startPostgres } from '../test/helpers/postgres';
import { tempDir } from '../test/helpers/tmp';

const MB = 1e6;
const MIB = 1024 * 1024;
const BLOB_MB = Number(process.env.BENCH_BLOB_MB ?? 256);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MY_ROWS = Number(process.env.BENCH_MY_ROWS ?? 1_000_000);
const PG_ROWS = Number(process.env.BENCH_PG_ROWS ?? 1_000_000);
const RSS_MB = Number(process.env.BENCH_RSS_MB ?? 1024);
const JOB_TIMEOUT_MS = 600_000;
const FINAL = new Set(['Succeeded', 'Failed', 'Cancelled']);
const json = process.argv.includes('--json');
const log = (text: string) => {
  if (!json) console.error(text);
};

/** One run's wall seconds, and the CPU seconds of the reader (host or client), mariadbd and Azurite. */
interface CpuRun {
  wall: number;
  client: number;
  server: number;
  azurite: number;
}

interface Figure {
  figure: string;
  openir: number;
  reference: number;
  unit: string;
  /** true: higher is better, the goal is a ratio ≥ goal; false: the goal is the OpenIR figure < goal. */
  ratioGoal: boolean;
  goal: number;
  note: string;
  /** The median of the runs' own ratios (stats.ts), for a ratio goal. */
  ratio?: number;
}

async function submit(
  session: AdminSession,
  source: string,
  sink: string,
  extra: { format?: string; mode?: string } = {},
) {
  const result = submitJob(session, { ir: 'bench-stores', source, sink, ...extra });
  const id = (result.json as { id: string }).id;
  await sendWake(session.dataDir);
  return id;
}

/** Runs a job to its end; its seconds from the control plane's own timestamps (startedAt → finishedAt). */
async function runJob(
  session: AdminSession,
  source: string,
  sink: string,
  extra: { format?: string; mode?: string } = {},
): Promise<{ job: JobRow; seconds: number }> {
  const id = await submit(session, source, sink, extra);
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    const job = session.store.jobs.find(id);
    if (job && FINAL.has(job.state)) {
      if (job.state !== 'Succeeded' || job.startedAtMs === null || job.finishedAtMs === null) {
        throw new Error(`job ${source} → ${sink} ended ${job.state}: ${job.reason}`);
      }
      return { job, seconds: (job.finishedAtMs - job.startedAtMs) / 1000 };
    }
    if (Date.now() > deadline) throw new Error(`job ${id} never finished: ${JSON.stringify(job)}`);
    await sleep(10);
  }
}

async function mustCli(node: TestNode, args: string[], stdin?: string): Promise<unknown> {
  const result = await node.cli([...args, '--json'], stdin);
  if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  return result.json;
}

/** A native client to its end, stdout to `outFile` (or ignored); wall-clock seconds. Secrets via `env`, never argv. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv, outFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = outFile ? fs.openSync(outFile, 'w') : 'ignore';
    const t0 = performance.now();
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', out, 'pipe'],
      detached: true,
    });
    const untrack = trackGroup(child, command);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (typeof out === 'number') fs.closeSync(out);
      void untrack();
      if (code !== 0) reject(new Error(`${command} failed (${code}): ${stderr}`));
      else resolve(seconds);
    });
  });
}

/** VmRSS of a process in bytes, from /proc (Linux); NaN elsewhere. */
function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

function writeRandomFile(file: string, megabytes: number): number {
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < megabytes; i += 1) fs.writeSync(fd, randomBytes(MIB));
  fs.closeSync(fd);
  return fs.statSync(file).size;
}

async function main(): Promise<void> {
  const figures: Figure[] = [];
  const skipped: string[] = [];
  /** Where the CPU went in the MariaDB runs (medians), printed under the table. */
  let mariadbCpu: (CpuRun & { side: string })[] = [];
  const cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 15_000 });
  const key = (await cp.createIr('bench-stores')).key1;
  const dataRoot = tempDir('openir-bench-stores-');
  const azurite = await startAzurite();
  const service = new BlobServiceClient(
    azurite.accountUrl,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
  const container = service.getContainerClient('bench');
  await container.create();
  const node = makeNode({ OPENIR_VAULT: 'file' }, 'bench-stores-node');
  await node.startHost();
  await mustCli(node, ['config', 'allow-folder', dataRoot]);
  await mustCli(node, ['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
  await mustCli(node, blobCredentialArgs('blob', azurite, { container: 'bench' }), `${AZURITE_KEY}\n`);
  const status = (await mustCli(node, ['register', '--key-stdin'], key)) as StatusJson;
  if (status.status !== 'Online' || !status.node) throw new Error(`node is ${status.status}`);
  const hostPid = status.host.pid;
  const session = openAdminSession(cp.dataDir);
  const closeSession = onCleanup('admin session', () => session.close());

  // The host's RSS while copying RSS_MB local → blob: its first data job, so the growth counts
  // everything the copy brings (the Azure SDK, the block buffers), not only what earlier jobs left.
  if (RSS_MB > 0) {
    log(`RSS: writing a ${RSS_MB} MB file…`);
    const huge = path.join(dataRoot, 'huge.bin');
    const hugeSize = writeRandomFile(huge, RSS_MB);
    const idle: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      idle.push(rssOf(hostPid));
      await sleep(50);
    }
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, rssOf(hostPid));
        await sleep(50);
      }
    })();
    log(`RSS: job ${RSS_MB} MB local → blob…`);
    const { seconds } = await runJob(session, 'files:huge.bin', 'blob:huge.bin');
    sampling = false;
    await sampler;
    fs.rmSync(huge);
    await container.getBlobClient('huge.bin').delete();
    figures.push({
      figure: `Host RSS growth, ${(hugeSize / MB).toFixed(0)} MB local → Blob`,
      openir: (peak - median(idle)) / MB,
      reference: median(idle) / MB,
      unit: 'MB (reference: idle RSS)',
      ratioGoal: false,
      goal: 64,
      note: `peak ${(peak / MB).toFixed(0)} MB; ${(hugeSize / MB / seconds).toFixed(0)} MB/s`,
    });
  }

  // Blob upload and download, job vs the SDK, taking turns.
  log(`blob: writing a ${BLOB_MB} MB file…`);
  const big = path.join(dataRoot, 'big.bin');
  const size = writeRandomFile(big, BLOB_MB);
  fs.mkdirSync(path.join(dataRoot, 'down'));
  const up = { job: [] as number[], sdk: [] as number[] };
  const down = { job: [] as number[], sdk: [] as number[] };
  const sdkTimed = async (step: () => Promise<unknown>) => {
    const t0 = performance.now();
    await step();
    return size / ((performance.now() - t0) / 1000);
  };
  for (let run = 0; run < RUNS; run += 1) {
    // Each side goes first every other run, so neither always meets Azurite (or the page cache) fresher.
    const jobFirst = run % 2 === 0;
    log(
      `blob: run ${run + 1}/${RUNS}: ${jobFirst ? 'job up, SDK up, job down, SDK down' : 'SDK up, job up, SDK down, job down'}…`,
    );
    const jobUp = async () =>
      up.job.push(size / (await runJob(session, 'files:big.bin', `blob:job-${run}.bin`)).seconds);
    const sdkUp = async () =>
      up.sdk.push(await sdkTimed(() => container.getBlockBlobClient(`sdk-${run}.bin`).uploadFile(big)));
    // Each side downloads the blob the other uploaded in this run.
    const jobDown = async () =>
      down.job.push(
        size / (await runJob(session, `blob:sdk-${run}.bin`, `files:down/job-${run}.bin`)).seconds,
      );
    const sdkDown = async () =>
      down.sdk.push(
        await sdkTimed(() =>
          container
            .getBlobClient(`job-${run}.bin`)
            .downloadToFile(path.join(dataRoot, 'down', `sdk-${run}.bin`)),
        ),
      );
    for (const step of jobFirst ? [jobUp, sdkUp, jobDown, sdkDown] : [sdkUp, jobUp, sdkDown, jobDown])
      await step();
    for (const name of [`job-${run}.bin`, `sdk-${run}.bin`]) {
      fs.rmSync(path.join(dataRoot, 'down', name), { force: true });
      await container.getBlobClient(name).delete();
    }
  }
  const blobNote = `${(size / MB).toFixed(0)} MB, ${RUNS} runs taking turns to go first`;
  log(
    `blob: every run (MB/s): job up ${up.job.map((v) => (v / MB).toFixed(1)).join(', ')}; SDK up ${up.sdk.map((v) => (v / MB).toFixed(1)).join(', ')}; job down ${down.job.map((v) => (v / MB).toFixed(1)).join(', ')}; SDK down ${down.sdk.map((v) => (v / MB).toFixed(1)).join(', ')}`,
  );
  figures.push(
    {
      figure: 'Blob upload (local → Blob)',
      openir: median(up.job) / MB,
      reference: median(up.sdk) / MB,
      ratio: medianRatio(up.job, up.sdk),
      unit: 'MB/s',
      ratioGoal: true,
      goal: 0.9,
      note: `vs uploadFile; ${blobNote}`,
    },
    {
      figure: 'Blob download (Blob → local)',
      openir: median(down.job) / MB,
      reference: median(down.sdk) / MB,
      ratio: medianRatio(down.job, down.sdk),
      unit: 'MB/s',
      ratioGoal: true,
      goal: 0.9,
      note: `vs downloadToFile; ${blobNote}`,
    },
  );

  fs.rmSync(big);

  // MariaDB → Blob vs mariadb --batch --quick to a file.
  const mariadb = findMariadb();
  if (!mariadb.found) skipped.push(`MariaDB: ${mariadb.reason}`);
  else if (MY_ROWS > 0) {
    log(`MariaDB: loading ${MY_ROWS} rows…`);
    const db: RunningMariadb = await startMariadb();
    const password = randomBytes(12).toString('hex');
    await createTypedTable(db, MY_ROWS, { password });
    await mustCli(node, mysqlCredentialArgs('my', db, { json: false }), `${password}\n`);
    const query = 'SELECT * FROM t ORDER BY id';
    const rates = { blob: [] as number[], file: [] as number[], native: [] as number[] };
    /** Each side's CPU seconds per run: the host (or the mariadb client), mariadbd, Azurite. */
    const cpu = { blob: [] as CpuRun[], file: [] as CpuRun[], native: [] as CpuRun[] };
    const cpuNow = () => ({
      host: cpuSecondsOf(hostPid),
      client: cpuSecondsOf('self-children'),
      server: cpuSecondsOf(db.pid),
      azurite: cpuSecondsOf(azurite.pid),
    });
    const cpuSince = (before: ReturnType<typeof cpuNow>, wall: number, native: boolean): CpuRun => {
      const after = cpuNow();
      return {
        wall,
        client: native ? after.client - before.client : after.host - before.host,
        server: after.server - before.server,
        azurite: after.azurite - before.azurite,
      };
    };
    for (let run = 0; run < RUNS; run += 1) {
      const jobFirst = run % 2 === 0;
      log(
        `MariaDB: run ${run + 1}/${RUNS}: ${jobFirst ? 'job → blob, job → file, mariadb --batch --quick → file' : 'mariadb --batch --quick → file, job → file, job → blob'}…`,
      );
      const viaJob = (to: 'blob' | 'file') => async () => {
        const before = cpuNow();
        const sink = to === 'blob' ? `blob:my-${run}.csv` : `files:my-${run}.csv`;
        const { job, seconds } = await runJob(session, `my:${query}`, sink, { format: 'csv' });
        cpu[to].push(cpuSince(before, seconds, false));
        if (job.rows !== MY_ROWS) throw new Error(`MariaDB job copied ${job.rows} rows, not ${MY_ROWS}`);
        rates[to].push(MY_ROWS / seconds);
        if (to === 'blob') await container.getBlobClient(`my-${run}.csv`).delete();
        else fs.rmSync(path.join(dataRoot, `my-${run}.csv`));
      };
      const viaNative = async () => {
        const out = path.join(dataRoot, 'mariadb.tsv');
        const before = cpuNow();
        const seconds = await timed(
          'mariadb',
          [
            '--no-defaults',
            '--batch',
            '--quick',
            '--skip-ssl',
            '-h',
            db.host,
            '-P',
            String(db.port),
            '-u',
            'reader',
            'shop',
            '-e',
            query,
          ],
          { MYSQL_PWD: password },
          out,
        );
        cpu.native.push(cpuSince(before, seconds, true));
        rates.native.push(MY_ROWS / seconds);
        fs.rmSync(out);
      };
      const steps = [viaJob('blob'), viaJob('file'), viaNative];
      for (const step of jobFirst ? steps : steps.reverse()) await step();
    }
    log(
      `MariaDB: every run (rows/s): job → blob ${rates.blob.map((r) => Math.round(r)).join(', ')}; job → file ${rates.file.map((r) => Math.round(r)).join(', ')}; mariadb ${rates.native.map((r) => Math.round(r)).join(', ')}`,
    );
    await db.stop();
    const rowsNote = `${MY_ROWS.toLocaleString('en')} typed rows`;
    figures.push(
      {
        figure: 'MariaDB → Blob (CSV)',
        openir: median(rates.blob),
        reference: median(rates.native),
        ratio: medianRatio(rates.blob, rates.native),
        unit: 'rows/s',
        ratioGoal: true,
        goal: 0.9,
        note: `vs mariadb --batch --quick > file; ${rowsNote}`,
      },
      {
        figure: 'MariaDB → local file (CSV)',
        openir: median(rates.file),
        reference: median(rates.native),
        ratio: medianRatio(rates.file, rates.native),
        unit: 'rows/s',
        ratioGoal: true,
        goal: 0.9,
        note: `the same, to a file as the reference writes; ${rowsNote}`,
      },
    );
    const cpuMedian = (runs: CpuRun[], key: keyof CpuRun) => median(runs.map((r) => r[key]));
    mariadbCpu = (['blob', 'file', 'native'] as const).map((side) => ({
      side: { blob: 'job → Blob', file: 'job → local file', native: 'mariadb --batch --quick → file' }[side],
      wall: cpuMedian(cpu[side], 'wall'),
      client: cpuMedian(cpu[side], 'client'),
      server: cpuMedian(cpu[side], 'server'),
      azurite: cpuMedian(cpu[side], 'azurite'),
    }));
  }

  // PostgreSQL sink vs psql \copy … FROM.
  const pgBin = findPostgresBin();
  if (pgBin.bin === null) skipped.push(`PostgreSQL: ${pgBin.reason}`);
  else if (PG_ROWS > 0) {
    log(`PostgreSQL: writing a ${PG_ROWS}-row CSV file…`);
    const pg = await startPostgres();
    const password = randomBytes(12).toString('hex');
    await pg.sql(`CREATE ROLE writer LOGIN PASSWORD '${password}'; CREATE DATABASE shop OWNER writer;`);
    await pg.sql(
      'SET ROLE writer; CREATE TABLE target (id integer, amount numeric(12,3), label text, day date);',
      'shop',
    );
    const csv = path.join(dataRoot, 'rows.csv');
    {
      const fd = fs.openSync(csv, 'w');
      fs.writeSync(fd, 'id,amount,label,day\n');
      const batch: string[] = [];
      for (let id = 1; id <= PG_ROWS; id += 1) {
        const day = new Date(Date.UTC(2024, 0, 1) + (id % 1000) * 86_400_000).toISOString().slice(0, 10);
        batch.push(`${id},${(id / 8).toFixed(3)},${id % 9 === 0 ? '' : `"item, ""${id}"""`},${day}\n`);
        if (batch.length === 10_000 || id === PG_ROWS) {
          fs.writeSync(fd, batch.join(''));
          batch.length = 0;
        }
      }
      fs.closeSync(fd);
    }
    await mustCli(node, postgresCredentialArgs('pg', pg, { user: 'writer', json: false }), `${password}\n`);
    const jobRates: number[] = [];
    const nativeRates: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      log(`PostgreSQL: run ${run + 1}/${RUNS}: job, psql \\copy…`);
      const { job, seconds } = await runJob(session, 'files:rows.csv', 'pg:table:target', {
        format: 'csv',
        mode: 'truncate',
      });
      if (job.rows !== PG_ROWS) throw new Error(`PostgreSQL job loaded ${job.rows} rows, not ${PG_ROWS}`);
      jobRates.push(PG_ROWS / seconds);
      await pg.sql('TRUNCATE target', 'shop');
      const native = await timed(
        path.join(pgBin.bin, 'psql'),
        [
          '-X',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-U',
          'writer',
          '-d',
          'shop',
          '-c',
          `\\copy target FROM '${csv}' WITH (FORMAT csv, HEADER true)`,
        ],
        { PGPASSWORD: password },
      );
      nativeRates.push(PG_ROWS / native);
      await pg.sql('TRUNCATE target', 'shop');
    }
    await pg.stop();
    figures.push({
      figure: 'PostgreSQL sink (CSV file → table)',
      openir: median(jobRates),
      reference: median(nativeRates),
      ratio: medianRatio(jobRates, nativeRates),
      unit: 'rows/s',
      ratioGoal: true,
      goal: 0.9,
      note: `vs psql \\copy … FROM; ${PG_ROWS.toLocaleString('en')} rows`,
    });
  }

  await closeSession();
  const rows = figures.map((f) => {
    const ratio = f.ratio ?? f.openir / f.reference;
    const met = f.ratioGoal ? ratio >= f.goal : f.openir < f.goal;
    return { ...f, ratio: f.ratioGoal ? ratio : null, met };
  });
  if (json) {
    console.log(JSON.stringify({ figures: rows, mariadbCpu, skipped }, null, 2));
    return;
  }
  const number = (v: number, unit: string) =>
    unit === 'rows/s' ? Math.round(v).toLocaleString('en') : v.toFixed(1);
  console.log('\nData stores, each against the native or reference client in the same run');
  console.table(
    rows.map((r) => ({
      figure: r.figure,
      OpenIR: `${number(r.openir, r.unit)} ${r.unit.split(' ')[0]}`,
      reference: `${number(r.reference, r.unit)} ${r.unit.split(' ')[0]}`,
      ratio: r.ratio === null ? '' : `${(r.ratio * 100).toFixed(0)} %`,
      goal: r.ratioGoal ? `≥ ${(r.goal * 100).toFixed(0)} %` : `< ${r.goal} MB`,
      met: r.met ? 'yes' : 'NO',
      note: r.note,
    })),
  );
  if (mariadbCpu.length > 0) {
    const cores = os.availableParallelism();
    const cpuTotal = (c: CpuRun) => c.client + c.server + c.azurite;
    // No run can be shorter than its CPU seconds spread evenly over every core.
    const wallAtLeast = (c: CpuRun) => cpuTotal(c) / cores;
    console.log(
      `\nMariaDB, ${MY_ROWS.toLocaleString('en')} rows: where the CPU went (seconds, median of ${RUNS} runs; this machine has ${cores} cores)`,
    );
    console.table(
      mariadbCpu.map((c) => ({
        side: c.side,
        'wall s': c.wall.toFixed(2),
        'host or client': c.client.toFixed(2),
        mariadbd: c.server.toFixed(2),
        Azurite: c.azurite.toFixed(2),
        'CPU total': cpuTotal(c).toFixed(2),
        'wall at least': wallAtLeast(c).toFixed(2),
      })),
    );
    const [blob, , native] = mariadbCpu;
    if (blob && native)
      console.log(
        `MariaDB → Blob can reach at most ${((native.wall / wallAtLeast(blob)) * 100).toFixed(0)} % of the reference on this machine: the reference's ${native.wall.toFixed(2)} s against the blob run's CPU seconds over ${cores} cores ("wall at least"), Azurite's included.`,
      );
  }
  for (const reason of skipped) console.log(`skipped: ${reason}`);
}

runBench(main);
