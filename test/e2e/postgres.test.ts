import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson, type TestNode } from '../helpers/node';
import {
  findPostgresBin,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
  postgresCredentialArgs,
} from '../helpers/postgres';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';

/**
 * The PostgreSQL source end to end, all real processes: a PostgreSQL server
 * on a temp dir, the control plane, OpenIR hosts. A 1,000,000-row table is
 * copied to staging and compared byte for byte with `psql \copy` of the same
 * query; the node's peak memory is read from /proc while it copies.
 */

const found = findPostgresBin();
if (found.bin === null) console.warn(`Skipping the PostgreSQL tests: ${found.reason}`);

const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const ROWS = 1_000_000;
const PASSWORD = `pw-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 20)}`;
const BIG_QUERY = 'SELECT * FROM big ORDER BY id';
const sha256File = (file: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });

/** Peak resident set (VmHWM) of a process, in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmHWM for ${pid}`);
  return Number(match[1]) * 1024;
}

describe.skipIf(found.bin === null)(
  'PostgreSQL source: 1M rows to staging, auth errors, cancel, memory',
  () => {
    const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
    let pg: RunningPostgres;
    let cp: Awaited<ReturnType<typeof startControlPlane>>;
    let key = '';
    // The node that copies 1M rows runs with V8's old space capped below the data's size: a host
    // that held the result would die of it (the job fails), and a streaming one must collect as it
    // goes, so its peak below does not depend on when a starved CI machine gets round to a major GC
    // (once +94.8 MB uncapped, against +45–51 MB usually).
    const node1 = makeNode({ NODE_OPTIONS: '--max-old-space-size=96' }, 'pg-node1');
    const node2 = makeNode({}, 'pg-node2');

    const admin = <T>(args: string[]) => cp.adminOk<T>(args);
    const submit = (source: string, format = 'csv') =>
      admin<JobJson>([
        'job',
        'submit',
        '--ir',
        'pg-ir',
        '--source',
        source,
        '--sink',
        'staging',
        '--format',
        format,
      ]);
    const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 30_000) =>
      cp.waitJob(id, predicate, timeoutMs);
    const setCredential = (node: TestNode, name: string, password: string) =>
      node.cli(postgresCredentialArgs(name, pg), `${password}\n`);
    const setUpNode = async (node: TestNode) => {
      await node.startHost();
      // Two nodes share this IR; a second node may join only while the first has remote access.
      await node.enableRemoteAccess();
      expect((await setCredential(node, 'pg', PASSWORD)).code).toBe(0);
      expect((await setCredential(node, 'pgbad', 'not-the-password')).code).toBe(0);
      const registered = await node.cli(['register', '--key-stdin', '--json'], key);
      expect(registered.code).toBe(0);
      expect((registered.json as StatusJson).status).toBe('Online');
    };
    const activeBackends = async (marker: string) =>
      Number(
        (
          await pg.sql(
            `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%${marker}%' AND pid <> pg_backend_pid()`,
          )
        ).trim(),
      );

    beforeAll(async () => {
      pg = await startPostgres();
      await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE shop;`);
      // About 160 bytes a row as CSV: ~160 MB, with NULLs, non-ASCII, quotes, commas, tabs and backslashes.
      await pg.sql(
        `CREATE UNLOGGED TABLE big AS SELECT
         g AS id,
         g::bigint * 7919 AS n,
         round((g % 100000) / 100.0, 2) AS amount,
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created,
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'ligne-é-' || g END AS label,
         E'tab\\there "q", back\\\\slash ' || g AS note,
         repeat(md5(g::text), 2) AS payload
       FROM generate_series(1, ${ROWS}) g;
       ALTER TABLE big ADD PRIMARY KEY (id);
       GRANT SELECT ON big TO reader;`,
        'shop',
      );
      cp = await startControlPlane(HEARTBEAT);
      key = (await admin<{ key1: string }>(['ir', 'create', 'pg-ir', '--join-approval', 'auto'])).key1;
      await setUpNode(node1);
    }, 180_000);

    afterAll(async () => {
      await stopAllNodes();
      await stopControlPlanes();
      await stopAllPostgres();
      cleanupTempDirs();
    });

    it(`copies ${ROWS.toLocaleString('en')} rows to staging as CSV, byte-exact with psql \\copy, in bounded memory`, async () => {
      const reference = pg.copyCsvDigest(BIG_QUERY, { database: 'shop', user: 'reader', password: PASSWORD });
      // Warm up first (driver loaded, code compiled, and V8's young generation grown to the size
      // a copy at this rate settles on, ~50 MB measured), so the growth measured below is what
      // scales with the data. A host that held the result would still grow by 1M - 300k rows'
      // worth (~114 MB), well over the bound below.
      const warmUp = await submit('pg:SELECT * FROM big WHERE id <= 300000');
      expect((await waitJob(warmUp.id, (j) => FINAL.includes(j.state))).state).toBe('Succeeded');
      const pid = ((await node1.cli(['status', '--json'])).json as StatusJson).host.pid;
      const before = peakRss(pid);
      const submitted = await submit(`pg:${BIG_QUERY}`);
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 150_000);
      const after = peakRss(pid);
      expect(job).toMatchObject({ state: 'Succeeded', node: { name: 'pg-node1' } });
      const expected = await reference;
      const staged = path.join(cp.dataDir, 'staging', submitted.id);
      expect(fs.statSync(staged).size).toBe(expected.bytes);
      expect(await sha256File(staged)).toBe(expected.sha256);
      expect(job.sha256).toBe(expected.sha256);
      expect(job.progress).toMatchObject({ bytes: expected.bytes, rows: ROWS });
      // The data must dwarf the host's memory growth, or the check proves nothing.
      expect(expected.bytes).toBeGreaterThan(60 * 1024 * 1024);
      const growth = after - before;
      console.log(
        `PostgreSQL → staging: ${(expected.bytes / 1e6).toFixed(1)} MB; host VmHWM ${(before / 1e6).toFixed(1)} → ${(after / 1e6).toFixed(1)} MB (+${(growth / 1e6).toFixed(1)} MB)`,
      );
      // Loading the result would grow the host by the 700k rows past the warm-up (~114 MB), and
      // die first at its 96 MB old-space cap; streaming keeps it to buffers plus V8's garbage,
      // which V8 lets grow with the allocation rate (23–86 MB after a 10k-row warm-up on 2-core
      // machines, 45–62 MB after this one, CI included). So the bound sits between: 60 % of the
      // data (~98 MB), not a tight figure.
      expect(growth).toBeLessThan(expected.bytes * 0.6);
      fs.rmSync(staged);
    }, 180_000);

    it('copies a query as NDJSON: one JSON object a line, types and escapes kept', async () => {
      const submitted = await submit(
        'pg:SELECT id, amount, label, note FROM big WHERE id <= 1000 ORDER BY id',
        'ndjson',
      );
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
      expect(job.state).toBe('Succeeded');
      const lines = fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id), 'utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(1000);
      const rows = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(rows[0]).toEqual({
        id: 1,
        amount: 0.01,
        label: 'ligne-é-1',
        note: 'tab\there "q", back\\slash 1',
      });
      expect(rows[9]).toMatchObject({ id: 10, label: null });
      expect(job.progress.rows).toBe(1000);
    });

    it('reads a whole table with table:<name>', async () => {
      const submitted = await submit('pg:table:public.big');
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 120_000);
      expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
      fs.rmSync(path.join(cp.dataDir, 'staging', submitted.id));
    }, 150_000);

    it('a wrong password fails the job with a credential-specific error saying how to fix it', async () => {
      const submitted = await submit('pgbad:SELECT 1');
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
      expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_AUTH_FAILED' });
      expect(job.reason).toContain('"pgbad"');
      expect(job.reason).toContain('openir credential set pgbad');
      expect(job.reason).toContain('--secret-stdin');
      expect(job.reason).not.toContain('not-the-password');
    });

    it('a bad query fails with the server message', async () => {
      const submitted = await submit('pg:SELECT no_such_column FROM big');
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
      expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_FAILED' });
      expect(job.reason).toMatch(/no_such_column.*42703/);
    });

    it('cancelling mid-copy stops the job and the query on the server within a second', async () => {
      const marker = `cancel-me-${Date.now()}`;
      const submitted = await submit(
        `pg:SELECT g, md5(g::text), pg_sleep(0.001) /* ${marker} */ FROM generate_series(1, 10000000) g`,
      );
      await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 15_000);
      expect(await activeBackends(marker)).toBe(1);
      const cancelled = await cp.admin<JobJson>(['job', 'cancel', submitted.id]);
      const cancelReturned = Date.now();
      expect(cancelled.code).toBe(0);
      let queryGoneMs = Infinity;
      for (let i = 0; i < 60; i += 1) {
        if ((await activeBackends(marker)) === 0) {
          queryGoneMs = Date.now() - cancelReturned;
          break;
        }
        await sleep(20);
      }
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 5_000);
      expect(job.state).toBe('Cancelled');
      expect(Date.parse(job.finishedAt ?? '') - cancelReturned).toBeLessThan(1000);
      expect(queryGoneMs).toBeLessThan(1000);
      expect(fs.existsSync(path.join(cp.dataDir, 'staging', submitted.id))).toBe(false);
    });

    it('re-queues the copy of a node killed mid-query; a second node completes it with no duplicate or missing rows', async () => {
      await setUpNode(node2);
      // node2 stays out of the way until node1 has the job.
      expect((await node2.cli(['stop', '--json'])).code).toBe(0);
      // Deterministic order (a function scan) and slow enough (~6 s) to kill mid-copy.
      const query = 'SELECT g, md5(g::text) AS h, pg_sleep(0.0005) AS s FROM generate_series(1, 10000) g';
      const reference = pg.copyCsvDigest(query, { database: 'shop', user: 'reader', password: PASSWORD });
      const submitted = await submit(`pg:${query}`);
      const running = await waitJob(
        submitted.id,
        (j) => j.state === 'Running' && j.progress.bytes > 0,
        15_000,
      );
      expect(running.node?.name).toBe('pg-node1');
      expect((await node2.cli(['start', '--json'])).code).toBe(0);
      await node1.kill('SIGKILL');
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 60_000);
      expect(job).toMatchObject({ state: 'Succeeded', node: { name: 'pg-node2' }, attempt: 2 });
      const expected = await reference;
      expect(job.sha256).toBe(expected.sha256);
      expect(await sha256File(path.join(cp.dataDir, 'staging', submitted.id))).toBe(expected.sha256);
      expect(job.progress.rows).toBe(10_000);
      expect(filesContaining(node2.home, PASSWORD)).toEqual([]);
      expect(filesContaining(cp.dataDir, PASSWORD)).toEqual([]);
    }, 90_000);
  },
);
