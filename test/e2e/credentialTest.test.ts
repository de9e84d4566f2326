import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialTestReport } from '../../src/shared/credentialTest';
import { freePort, makeNode, stopAllNodes } from '../helpers/node';
import {
  findPostgresBin,
  postgresCredentialArgs,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
} from '../helpers/postgres';
import { cleanupTempDirs } from '../helpers/tmp';

/**
 * `openir credential test <name> [--json]` end to end: a real host process
 * and a real PostgreSQL. Exit 0 and the steps on success; on failure exit 1,
 * one line on stderr with the code and fix, and with --json the report whose
 * `failure` is the error object.
 */
const found = findPostgresBin();

describe.skipIf(found.bin === null)('openir credential test (CLI, real host, real PostgreSQL)', () => {
  const PASSWORD = 'conntest-cli-pw';
  let pg: RunningPostgres;
  const node = makeNode({}, 'conntest-node');

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE shop;`);
    await node.startHost();
    expect((await node.cli(postgresCredentialArgs('pg', pg), `${PASSWORD}\n`)).code).toBe(0);
    expect((await node.cli(postgresCredentialArgs('pgbad', pg), 'not-the-password\n')).code).toBe(0);
    const closed = await freePort();
    expect(
      (await node.cli(postgresCredentialArgs('pgdown', { host: pg.host, port: closed }), `${PASSWORD}\n`))
        .code,
    ).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await stopAllNodes();
    await stopAllPostgres();
    cleanupTempDirs();
  });

  it('passes: every step on its own line with its timing, exit 0', async () => {
    const result = await node.cli(['credential', 'test', 'pg']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Testing postgresql credential "pg"');
    for (const label of ['TCP connect', 'Sign in', 'Read-only session', 'SELECT 1', 'Server version']) {
      expect(result.stdout).toMatch(new RegExp(`ok\\s+${label}.* \\d+ ms`));
    }
    expect(result.stdout).toMatch(/Connection OK/);
    const json = await node.cli(['credential', 'test', 'pg', '--json']);
    expect(json.code).toBe(0);
    const report = json.json as CredentialTestReport;
    expect(report).toMatchObject({ ok: true, name: 'pg', type: 'postgresql', unsaved: false });
    expect(report.steps).toHaveLength(6);
    expect(report.steps[1]).toMatchObject({ id: 'tls', result: 'skipped' });
  });

  it('a wrong password: exit 1, one line with DATA_STORE_AUTH_FAILED, and the error object with --json', async () => {
    const result = await node.cli(['credential', 'test', 'pgbad']);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^openir: .*\[DATA_STORE_AUTH_FAILED\]$/);
    expect(result.stdout).toMatch(/FAIL\s+Sign in/);
    const json = await node.cli(['credential', 'test', 'pgbad', '--json']);
    expect(json.code).toBe(1);
    const report = json.json as CredentialTestReport;
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ code: 'DATA_STORE_AUTH_FAILED', fix: expect.any(String) });
    expect(report.steps.at(-1)?.error?.storeCode).toContain('28P01');
  });

  it('a closed port: DATA_STORE_UNREACHABLE; an unknown name: CREDENTIAL_NOT_FOUND', async () => {
    const down = await node.cli(['credential', 'test', 'pgdown', '--json']);
    expect(down.code).toBe(1);
    expect((down.json as CredentialTestReport).failure?.code).toBe('DATA_STORE_UNREACHABLE');
    const missing = await node.cli(['credential', 'test', 'nope', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.json).toMatchObject({ error: { code: 'CREDENTIAL_NOT_FOUND' } });
  });
});
