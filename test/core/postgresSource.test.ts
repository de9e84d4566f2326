import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresSource, type PostgresCredential } from '../../src/core/jobs/postgresSource';
import { findPostgresBin, startPostgres, stopAllPostgres, type RunningPostgres } from '../helpers/postgres';

/**
 * Query confinement against a real PostgreSQL: a job's query is parsed by the
 * server (extended protocol, Parse without Execute) before it is wrapped in
 * COPY, so it cannot close the COPY and stack statements of its own. The
 * reader role here may CREATE in its schema, so only the confinement stops
 * the probe (in production the database role is the real boundary).
 */
const found = findPostgresBin();
const PASSWORD = 'confined-reader-pw';

async function drain(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe.skipIf(found.bin === null)('PostgreSQL source: one SELECT, nothing else', () => {
  let pg: RunningPostgres;
  let credential: PostgresCredential;
  const open = (query: string) =>
    openPostgresSource(credential, query, 'csv', new AbortController().signal).then(drain);
  const tableExists = async (name: string) =>
    (await pg.sql(`SELECT to_regclass('public.${name}') IS NOT NULL;`, 'conf')).includes('t');

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE conf OWNER reader;`);
    await pg.sql('CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, $$a;b$$), (2, NULL);', 'conf');
    await pg.sql('ALTER TABLE t OWNER TO reader; GRANT CREATE ON SCHEMA public TO reader;', 'conf');
    credential = {
      name: 'pg',
      type: 'postgresql',
      host: pg.host,
      port: pg.port,
      database: 'conf',
      user: 'reader',
      ssl: false,
      password: PASSWORD,
    };
  }, 60_000);
  afterAll(stopAllPostgres);

  it('the probe: closing the COPY and stacking a write is refused, and the table is not created', async () => {
    const probe =
      'SELECT 1) TO STDOUT; COMMIT; BEGIN READ WRITE; CREATE TABLE probe (a int); COMMIT; COPY (SELECT 1';
    // Alone, the query does not parse (its ")" closes nothing): refused before anything runs.
    await expect(open(probe)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: /not valid SQL/ });
    expect(await tableExists('probe')).toBe(false);
    // Balanced, it is several statements: refused as such.
    const stacked = 'SELECT 1; COMMIT; BEGIN READ WRITE; CREATE TABLE probe (a int); COMMIT; SELECT 1';
    await expect(open(stacked)).rejects.toMatchObject({ code: 'DATA_SOURCE_MULTIPLE_STATEMENTS' });
    expect(await tableExists('probe')).toBe(false);
  });

  it('two whole statements are refused, and neither runs', async () => {
    await expect(open('SELECT 1; CREATE TABLE probe2 (a int)')).rejects.toMatchObject({
      code: 'DATA_SOURCE_MULTIPLE_STATEMENTS',
    });
    expect(await tableExists('probe2')).toBe(false);
  });

  it('a statement other than SELECT/WITH is refused before it reaches the server', async () => {
    for (const query of ['CREATE TABLE probe3 (a int)', 'DELETE FROM t', 'COMMIT']) {
      await expect(open(query), query).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect(await tableExists('probe3')).toBe(false);
    expect(await pg.sql('SELECT count(*) FROM t;', 'conf')).toContain('2');
  });

  it('a comment at the end cannot swallow the COPY wrapper', async () => {
    await expect(open('SELECT id FROM t ORDER BY id -- the end')).resolves.toBe('id\n1\n2\n');
  });

  it('one SELECT, WITH, or parenthesised query runs, with ";" inside strings and comments', async () => {
    await expect(open("SELECT name FROM t WHERE name = 'a;b' /* ; */;")).resolves.toBe('name\na;b\n');
    await expect(open('WITH x AS (SELECT 1 AS n) SELECT n FROM x')).resolves.toBe('n\n1\n');
    await expect(open('(SELECT 2 AS n)')).resolves.toBe('n\n2\n');
    await expect(open('table:t')).resolves.toBe('id,name\n1,a;b\n2,\n');
  });

  it('a query the server cannot parse fails with its message, not as two statements', async () => {
    await expect(open('SELEC 1')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(open('SELECT no_such FROM t')).rejects.toMatchObject({ code: 'DATA_SOURCE_FAILED' });
  });
});
