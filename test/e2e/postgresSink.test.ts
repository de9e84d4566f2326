import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import {
  findPostgresBin,
  postgresCredentialArgs,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
} from '../helpers/postgres';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

/**
 * PostgreSQL as a sink, end to end with real processes: a PostgreSQL server
 * on a temp dir, the control plane and an OpenIR host. A local CSV file is
 * loaded into a table with COPY … FROM STDIN in one transaction; the table is
 * compared row for row with the file through `psql \copy … TO STDOUT CSV`.
 */

const found = findPostgresBin();
if (found.bin === null) console.warn(`Skipping the PostgreSQL sink tests: ${found.reason}`);

const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const ROWS = 200_000;
const PASSWORD = `pw-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 20)}`;
const HEADER = 'id,amount,label,day';
const TABLE_DDL = '(id integer, amount numeric(12,3), label text, day date)';

/** One CSV row as PostgreSQL's own COPY TO CSV writes it (NULL empty, quotes doubled when needed). */
function csvRow(id: number): string {
  const amount = (id / 8).toFixed(3);
  const label = id % 9 === 0 ? '' : `"item, ""${id}"""`;
  const day = new Date(Date.UTC(2024, 0, 1) + (id % 1000) * 86_400_000).toISOString().slice(0, 10);
  return `${id},${amount},${label},${day}\n`;
}

/** The four fields of a csvRow line (the label may hold a quoted comma). */
function csvFields(line: string): string[] {
  const match = /^(\d+),([^,]+),("(?:[^"]|"")*"|),([^,]+)\n$/.exec(line);
  if (!match) throw new Error(`not a csvRow line: ${line}`);
  return match.slice(1);
}

function writeCsv(file: string, rows: number, header = HEADER, row = csvRow): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const write = (text: string) => {
    fs.writeSync(fd, text);
    hash.update(text);
  };
  write(`${header}\n`);
  const batch: string[] = [];
  for (let id = 1; id <= rows; id += 1) {
    batch.push(row(id));
    if (batch.length === 10_000 || id === rows) {
      write(batch.join(''));
      batch.length = 0;
    }
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

describe.skipIf(found.bin === null)('PostgreSQL sink: CSV into a table in one transaction', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
  let pg: RunningPostgres;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  const node = makeNode({}, 'pgsink-node');
  const dataRoot = tempDir('openir-pgsink-data-');
  let fileSha = '';
  const login = () => ({ database: 'shop', user: 'writer', password: PASSWORD });

  const admin = <T>(args: string[]) => cp.adminOk<T>(args);
  const submitArgs = (source: string, sink: string, extra: string[] = []) => [
    'job',
    'submit',
    '--ir',
    'pgsink-ir',
    '--source',
    source,
    '--sink',
    sink,
    '--format',
    'csv',
    ...extra,
  ];
  const submit = (source: string, sink: string, extra: string[] = []) =>
    admin<JobJson>(submitArgs(source, sink, extra));
  const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 60_000) =>
    cp.waitJob(id, predicate, timeoutMs);
  const finished = async (source: string, sink: string, extra: string[] = []) =>
    waitJob((await submit(source, sink, extra)).id, (j) => FINAL.includes(j.state));
  const count = async (table: string) =>
    Number((await pg.sql(`SELECT count(*) FROM ${table}`, 'shop')).trim());
  /** The pid of the backend running the sink's COPY into "slow", or ''. */
  const copyBackendNow = async (table = 'slow') =>
    (
      await pg.sql(
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'OpenIR' AND query LIKE 'COPY "public"."${table}"%' AND state <> 'idle' AND pid <> pg_backend_pid()`,
      )
    ).trim();
  /** Waits (up to 10 s) for the sink's COPY into "slow" to run, and gives its backend's pid. */
  const copyBackend = async (table = 'slow') => {
    let pid = '';
    for (let i = 0; i < 200 && pid === ''; i += 1) {
      pid = await copyBackendNow(table);
      if (pid === '') await sleep(50);
    }
    return pid;
  };
  const digest = (table: string) => pg.copyCsvDigest(`SELECT * FROM ${table} ORDER BY id`, login());

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.sql(`CREATE ROLE writer LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE shop OWNER writer;`);
    await pg.sql(
      `SET ROLE writer;
       CREATE TABLE target ${TABLE_DDL};
       CREATE TABLE other ${TABLE_DDL};
       CREATE TABLE reordered ${TABLE_DDL};
       CREATE TABLE slow ${TABLE_DDL};
       -- Slows a load to about 4 s, so a test can kill its connection in the middle.
       CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.id % 1000 = 0 THEN PERFORM pg_sleep(0.02); END IF; RETURN NEW; END $$;
       CREATE TRIGGER slow_down BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION slow_down();
       -- Slower still (about 20 s), so a cancel lands mid-load however busy the machine is.
       CREATE TABLE slower ${TABLE_DDL};
       CREATE FUNCTION slower_down() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.id % 1000 = 0 THEN PERFORM pg_sleep(0.1); END IF; RETURN NEW; END $$;
       CREATE TRIGGER slower_down BEFORE INSERT ON slower FOR EACH ROW EXECUTE FUNCTION slower_down();`,
      'shop',
    );
    fs.mkdirSync(path.join(dataRoot, 'in'));
    fileSha = writeCsv(path.join(dataRoot, 'in', 'sales.csv'), ROWS);
    // One column too many: COPY refuses the first row, so nothing is loaded.
    writeCsv(
      path.join(dataRoot, 'in', 'wide.csv'),
      1000,
      `${HEADER},extra`,
      (id) => `${csvRow(id).trimEnd()},x\n`,
    );
    // The same rows with the columns in another order: loaded by the header's names.
    writeCsv(path.join(dataRoot, 'in', 'reordered.csv'), ROWS, 'day,"label",id,amount', (id) => {
      const [idText, amount, label, day] = csvFields(csvRow(id));
      return `${day},${label},${idText},${amount}\n`;
    });
    cp = await startControlPlane(HEARTBEAT);
    const key = (await admin<{ key1: string }>(['ir', 'create', 'pgsink-ir'])).key1;
    await node.startHost();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    expect(
      (await node.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot])).code,
    ).toBe(0);
    const creds: [string, string][] = [
      ['pg', PASSWORD],
      ['pgbad', 'not-the-password'],
    ];
    for (const [name, password] of creds) {
      const set = await node.cli(postgresCredentialArgs(name, pg, { user: 'writer' }), `${password}\n`);
      expect(set.code, set.stderr).toBe(0);
    }
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  }, 180_000);

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    await stopAllPostgres();
    cleanupTempDirs();
  });

  it(`loads a ${ROWS.toLocaleString('en')}-row local CSV file into a table, row-exact with psql \\copy`, async () => {
    const job = await finished('files:in/sales.csv', 'pg:table:public.target');
    expect(job).toMatchObject({ state: 'Succeeded', mode: 'append', progress: { rows: ROWS } });
    // What the sink received is the file, byte for byte; the table exports back to the same bytes.
    expect(job.sha256).toBe(fileSha);
    expect((await digest('target')).sha256).toBe(fileSha);
    expect(filesContaining(node.home, PASSWORD)).toEqual([]);
    expect(filesContaining(cp.dataDir, PASSWORD)).toEqual([]);
  }, 120_000);

  it('appends by default and replaces the rows with --mode truncate', async () => {
    const appended = await finished('files:in/sales.csv', 'pg:table:target', ['--mode', 'append']);
    expect(appended).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    expect(await count('target')).toBe(2 * ROWS);
    const truncated = await finished('files:in/sales.csv', 'pg:table:"public"."target"', [
      '--mode',
      'truncate',
    ]);
    expect(truncated).toMatchObject({ state: 'Succeeded', mode: 'truncate', progress: { rows: ROWS } });
    expect(await count('target')).toBe(ROWS);
    expect((await digest('target')).sha256).toBe(fileSha);
  }, 120_000);

  it('copies a PostgreSQL query into another table', async () => {
    const job = await finished('pg:SELECT * FROM target ORDER BY id', 'pg:table:other');
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    // What the sink received is psql's own export of the query, byte for byte.
    expect(job.sha256, job.note ?? '').toBe((await digest('target')).sha256);
    expect((await digest('other')).sha256).toBe(fileSha);
  }, 120_000);

  it("matches columns by the CSV header's names: another order loads the same rows", async () => {
    const job = await finished('files:in/reordered.csv', 'pg:table:reordered');
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    // Exported in the table's own column order, the rows are those of the file in that order.
    expect((await digest('reordered')).sha256).toBe(fileSha);
  }, 120_000);

  it('a table that does not exist fails with SINK_TABLE_NOT_FOUND, at once', async () => {
    const job = await finished('files:in/sales.csv', 'pg:table:public.missing');
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'SINK_TABLE_NOT_FOUND', attempt: 1 });
    expect(job.reason).toContain('"public"."missing"');
    expect(job.note).toBeNull();
  });

  it('a CSV whose columns do not match fails with SINK_DATA_REJECTED and loads nothing', async () => {
    const before = await digest('target');
    const job = await finished('files:in/wide.csv', 'pg:table:target', ['--mode', 'truncate']);
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'SINK_DATA_REJECTED' });
    // Columns go by the header's names: "extra" is not one of the table's.
    expect(job.reason).toMatch(/column "extra" of relation "target" does not exist/);
    // Not retried, and the truncate rolled back with the load.
    expect(job.note).toBeNull();
    expect((await digest('target')).sha256).toBe(before.sha256);
    expect(await count('target')).toBe(ROWS);
  });

  it('a wrong password fails with DATA_SOURCE_AUTH_FAILED; bad names and formats are refused', async () => {
    const job = await finished('files:in/sales.csv', 'pgbad:table:target');
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_AUTH_FAILED' });
    expect(job.reason).not.toContain('not-the-password');
    const injected = await finished('files:in/sales.csv', 'pg:table:target; DROP TABLE target');
    expect(injected).toMatchObject({ state: 'Failed', reasonCode: 'INVALID_INPUT' });
    expect(await count('target')).toBe(ROWS);
    const raw = await cp.admin([...submitArgs('files:in/sales.csv', 'pg:table:target'), '--format', 'raw']);
    expect(raw.code).not.toBe(0);
    expect((raw.json as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
    const mode = await cp.admin(submitArgs('files:in/sales.csv', 'pg:table:target', ['--mode', 'replace']));
    expect((mode.json as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
  });

  it('cancelling mid-load rolls back: the table stays empty and the backend ends', async () => {
    const submitted = await submit('files:in/sales.csv', 'pg:table:public.slower');
    expect(await copyBackend('slower')).toMatch(/^\d+$/);
    await sleep(500);
    expect((await cp.admin(['job', 'cancel', submitted.id])).code).toBe(0);
    const cancelAt = Date.now();
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 15_000);
    expect(job.state).toBe('Cancelled');
    // The connection is closed at once, not after the server has read the queued data (410 ms measured).
    expect(Date.parse(job.finishedAt ?? '') - cancelAt).toBeLessThan(2000);
    let left = 'x';
    for (let i = 0; i < 100 && left !== ''; i += 1) {
      left = await copyBackendNow('slower');
      if (left !== '') await sleep(50);
    }
    expect(left).toBe('');
    expect(await count('slower')).toBe(0);
  }, 60_000);

  it('a connection killed mid-COPY rolls back; the retry loads every row exactly once', async () => {
    const submitted = await submit('files:in/sales.csv', 'pg:table:public.slow');
    const backend = async () =>
      (
        await pg.sql(
          'SELECT pid FROM pg_stat_activity WHERE application_name = \'OpenIR\' AND query LIKE \'COPY "public"."slow"%\' AND pid <> pg_backend_pid()',
        )
      ).trim();
    let pid = '';
    for (let i = 0; i < 200 && pid === ''; i += 1) {
      pid = await backend();
      if (pid === '') await sleep(50);
    }
    expect(pid).toMatch(/^\d+$/);
    // Let it load a part first, then kill it from a superuser connection.
    await sleep(1000);
    expect((await pg.sql(`SELECT pg_terminate_backend(${pid})`)).trim()).toBe('t');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 90_000);
    expect(job).toMatchObject({ state: 'Succeeded', attempt: 1, progress: { rows: ROWS } });
    // The note tells the retry; the table has each row once.
    expect(job.note ?? '').toMatch(/retry|try|resum/i);
    expect(await count('slow')).toBe(ROWS);
    expect(Number((await pg.sql('SELECT count(DISTINCT id) FROM slow', 'shop')).trim())).toBe(ROWS);
    expect((await digest('slow')).sha256).toBe(fileSha);
    expect(job.sha256).toBe(fileSha);
  }, 120_000);
});
