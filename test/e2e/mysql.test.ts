import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import {
  findMariadb,
  mysqlCredentialArgs,
  startMariadb,
  stopAllMariadb,
  type RunningMariadb,
} from '../helpers/mariadb';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import {
  TYPED_COLUMNS as COLUMNS,
  batchRows,
  createTypedTable,
  csvRows,
  expectCsvRowExact,
  expectNdjsonRowExact,
  typedReference,
} from '../helpers/mariadbRows';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';

/**
 * The MySQL/MariaDB source end to end, all real processes: a MariaDB server on
 * a private datadir, the control plane, an OpenIR host. A table with NULLs,
 * decimals, big integers, dates, time stamps, text with quotes and commas, and
 * binary is copied to staging as CSV and NDJSON and compared row for row with
 * `mariadb --batch` of the same rows (dates, time stamps and binary written
 * the way the source writes them: ISO text, UTC with Z, base64).
 */

const found = findMariadb();
if (!found.found) console.warn(`Skipping the MySQL/MariaDB tests: ${found.reason}`);

const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const ROWS = 100_000;
const PASSWORD = `pw-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 20)}`;
describe.skipIf(!found.found)('MySQL/MariaDB source: types, table:, refusals, cancel', () => {
  // No failover here: heartbeats loose enough that a busy 2-core CI machine never drops the node mid-copy.
  const HEARTBEAT = { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 15_000 };
  let db: RunningMariadb;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let reference: string[][] = [];
  const node = makeNode({}, 'my-node1');

  const admin = <T>(args: string[]) => cp.adminOk<T>(args);
  const submit = (source: string, format = 'csv') =>
    admin<JobJson>([
      'job',
      'submit',
      '--ir',
      'my-ir',
      '--source',
      source,
      '--sink',
      'staging',
      '--format',
      format,
    ]);
  const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 60_000) =>
    cp.waitJob(id, predicate, timeoutMs);
  const staged = (id: string) => fs.readFileSync(path.join(cp.dataDir, 'staging', id), 'utf8');
  const running = async (marker: string) =>
    Number(
      batchRows(
        await db.sql(
          `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%${marker}%' AND ID <> CONNECTION_ID()`,
        ),
      )[1]?.[0],
    );

  beforeAll(async () => {
    db = await startMariadb();
    await createTypedTable(db, ROWS, { password: PASSWORD });
    reference = await typedReference(db);
    expect(reference[0]).toEqual(COLUMNS);
    expect(reference).toHaveLength(ROWS + 1);
    cp = await startControlPlane(HEARTBEAT);
    const key = (await admin<{ key1: string }>(['ir', 'create', 'my-ir'])).key1;
    await node.startHost();
    expect((await node.cli(mysqlCredentialArgs('my', db), `${PASSWORD}\n`)).code).toBe(0);
    expect((await node.cli(mysqlCredentialArgs('mybad', db), 'not-the-password\n')).code).toBe(0);
    // TLS is on unless --no-ssl: this test server has none.
    const tlsArgs = mysqlCredentialArgs('mytls', db).filter((arg) => arg !== '--no-ssl');
    expect((await node.cli(tlsArgs, `${PASSWORD}\n`)).code).toBe(0);
    expect((await node.cli(mysqlCredentialArgs('mydown', { host: '127.0.0.1', port: 1 }), 'x\n')).code).toBe(
      0,
    );
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  }, 180_000);

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    await stopAllMariadb();
    cleanupTempDirs();
  });

  it('the credential is saved with its fields; the password only in the vault', async () => {
    const list = await node.cli(['credential', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.stringify(list.json)).not.toContain(PASSWORD);
    expect((list.json as { credentials: unknown[] }).credentials).toContainEqual(
      expect.objectContaining({
        name: 'my',
        type: 'mysql',
        host: '127.0.0.1',
        port: db.port,
        database: 'shop',
        user: 'reader',
        ssl: false,
        hasPassword: true,
      }),
    );
    expect(filesContaining(node.home, PASSWORD)).toEqual([]);
  });

  it(`copies ${ROWS.toLocaleString('en')} rows as CSV, row-exact with mariadb --batch (NULLs, decimals, dates, binary)`, async () => {
    const submitted = await submit('my:SELECT * FROM t ORDER BY id;');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 120_000);
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    const text = staged(submitted.id);
    expect(createHash('sha256').update(text).digest('hex')).toBe(job.sha256);
    // An empty string is quoted, a NULL is not: the two stay apart.
    expect(text.split('\n')[5]).toContain(',"",');
    expectCsvRowExact(text, reference);
  }, 150_000);

  it('copies the same rows as NDJSON with types: null, numbers, DECIMAL/BIGINT as text, ISO dates, base64', async () => {
    const submitted = await submit('my:SELECT * FROM t ORDER BY id', 'ndjson');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 120_000);
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    const text = staged(submitted.id);
    const lines = text.split('\n');
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(first).toEqual({
      id: 1,
      amount: '-48765.4322',
      big: '92233720368548',
      created: '2024-02-29T23:59:59.123456',
      day: '2000-01-01',
      ts: '2024-01-01T00:01:00Z',
      label: 'ligne-é-1',
      note: 'say "hi", row 1',
      bin: createHash('md5').update('1').digest('base64'),
    });
    expectNdjsonRowExact(text, reference);
    const last = JSON.parse(lines[ROWS - 1] as string) as Record<string, unknown>;
    // Exact beyond 2^53: a BIGINT as a JSON number would have been rounded.
    expect(last.big).toBe(String(BigInt(ROWS) * 92233720368547n + 1n));
  }, 150_000);

  it('reads a whole table with table:<name>', async () => {
    const submitted = await submit('my:table:t');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 120_000);
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
    expect(staged(submitted.id).split('\n', 1)[0]).toBe(COLUMNS.join(','));
  }, 150_000);

  it('refuses two statements with its own code, and runs neither', async () => {
    const submitted = await submit('my:SELECT 1; DROP TABLE t');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_MULTIPLE_STATEMENTS' });
    expect(batchRows(await db.sql('SELECT COUNT(*) FROM t', 'shop'))[1]).toEqual([String(ROWS)]);
  });

  it('a ";" inside a string or a comment is not a second statement', async () => {
    const submitted = await submit("my:SELECT 'a;b' AS s /* ; */ -- ;\n", 'ndjson');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job.state).toBe('Succeeded');
    expect(staged(submitted.id)).toBe('{"s":"a;b"}\n');
  });

  it('a write is refused: the transaction is read-only and only a SELECT runs', async () => {
    const submitted = await submit('my:DELETE FROM t');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'INVALID_INPUT' });
  });

  it('a wrong password fails with DATA_SOURCE_AUTH_FAILED saying how to fix it, without retrying', async () => {
    const submitted = await submit('mybad:SELECT 1');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({
      state: 'Failed',
      reasonCode: 'DATA_SOURCE_AUTH_FAILED',
      dataStoreCode: 'DATA_STORE_AUTH_FAILED',
    });
    expect(job.reason).toContain('"mybad"');
    expect(job.reason).toContain('openir credential set mybad --type mysql');
    expect(job.reason).not.toContain('not-the-password');
  });

  it('TLS is on by default: a server without TLS is refused, with the --no-ssl fix', async () => {
    const submitted = await submit('mytls:SELECT 1');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_FAILED' });
    expect(job.reason).toContain('does not accept TLS');
  });

  it('an unreachable server fails with "Cannot reach" and DATA_STORE_UNREACHABLE, as Test connection says', async () => {
    const submitted = await submit('mydown:SELECT 1');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({
      state: 'Failed',
      reasonCode: 'DATA_STORE_UNREACHABLE',
      dataStoreCode: 'DATA_STORE_UNREACHABLE',
    });
    expect(job.reason).toContain('Cannot reach MySQL at 127.0.0.1:1');
  });

  it('a bad query fails with the server message', async () => {
    const submitted = await submit('my:SELECT no_such_column FROM t');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_SOURCE_FAILED' });
    expect(job.reason).toMatch(/no_such_column.*1054/);
  });

  it('a connection killed mid-query is retried from byte 0: complete, no duplicate rows', async () => {
    const marker = `kill-conn-${Date.now()}`;
    const submitted = await submit(
      `my:SELECT seq, MD5(seq) AS h, SLEEP(0.0005) AS s /* ${marker} */ FROM seq_1_to_10000`,
    );
    await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 30_000);
    const ids = batchRows(
      await db.sql(
        `SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%${marker}%' AND ID <> CONNECTION_ID()`,
      ),
    ).slice(1);
    expect(ids).toHaveLength(1);
    await db.sql(`KILL CONNECTION ${Number(ids[0]?.[0])}`);
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 60_000);
    expect(job).toMatchObject({ state: 'Succeeded', progress: { rows: 10_000 } });
    expect(job.note ?? '').toMatch(/try 2/);
    const expected = batchRows(await db.sql('SELECT seq, MD5(seq) AS h, 0 AS s FROM seq_1_to_10000', 'shop'));
    expect(csvRows(staged(submitted.id))).toEqual(expected);
  }, 90_000);

  it('cancelling mid-copy stops the query on the server (KILL QUERY; gone from the processlist)', async () => {
    const marker = `cancel-me-${Date.now()}`;
    const submitted = await submit(
      `my:SELECT seq, MD5(seq), SLEEP(0.001) /* ${marker} */ FROM seq_1_to_10000000`,
    );
    await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 30_000);
    expect(await running(marker)).toBe(1);
    const cancelled = await cp.admin<JobJson>(['job', 'cancel', submitted.id]);
    const cancelReturned = Date.now();
    expect(cancelled.code).toBe(0);
    let goneMs = Infinity;
    for (let i = 0; i < 100; i += 1) {
      if ((await running(marker)) === 0) {
        goneMs = Date.now() - cancelReturned;
        break;
      }
      await sleep(20);
    }
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 5_000);
    expect(job.state).toBe('Cancelled');
    expect(goneMs).toBeLessThan(2000);
    expect(fs.existsSync(path.join(cp.dataDir, 'staging', submitted.id))).toBe(false);
  }, 60_000);
});
