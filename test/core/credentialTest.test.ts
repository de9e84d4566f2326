import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { ContainerSASPermissions, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialTester } from '../../src/core/credentialTest';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { LocalPathPolicy } from '../../src/core/jobs/pathPolicy';
import { jobFailure } from '../../src/core/jobs/jobRunner';
import {
  dataStoreCodeFor,
  jobDataStoreCode,
  type CredentialTestReport,
} from '../../src/shared/credentialTest';
import { OpenIrError } from '../../src/shared/errors';
import type { CredentialInput } from '../../src/shared/credentials';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteAvailable,
  startAzurite,
  stopAllAzurites,
  type Azurite,
} from '../helpers/azurite';
import { coreParts } from '../helpers/coreParts';
import { findMariadb, startMariadb, stopAllMariadb, type RunningMariadb } from '../helpers/mariadb';
import { opensslAvailable, selfSignedByOpenssl } from '../helpers/openssl';
import { findPostgresBin, startPostgres, stopAllPostgres, type RunningPostgres } from '../helpers/postgres';
import { freePort } from '../helpers/node';
import { findSshd, startSshd, stopAllSshd, type RunningSshd } from '../helpers/sshd';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/*
 * Test connection against real servers: each type passes against a live
 * store, and each failure that applies carries its DATA_STORE_* code, with
 * the store's own code kept on the step.
 */

afterAll(() => cleanupTempDirs());

function tester(allowed: string[] = [], stepTimeoutMs = 20_000) {
  const parts = coreParts('openir-conntest-');
  const store = new CredentialStore({
    dataDir: parts.home,
    vault: parts.vault,
    onSecret: (secret) => parts.redactor.add(secret),
  });
  const service = new CredentialTester({
    credentials: store,
    paths: new LocalPathPolicy(async () => allowed),
    connector: parts.connector,
    log: parts.logger.child('credential-test'),
    stepTimeoutMs,
  });
  return { ...parts, store, service, test: (credential: CredentialInput) => service.test({ credential }) };
}

const failedStep = (report: CredentialTestReport) => report.steps.find((step) => step.result === 'failed');

function expectFailure(report: CredentialTestReport, code: string, stepId: string) {
  expect(report.ok, JSON.stringify(report, null, 2)).toBe(false);
  expect(report.failure?.code).toBe(code);
  expect(report.failure?.fix).toBeTruthy();
  expect(failedStep(report)?.id).toBe(stepId);
  // The failed step is the last one: the test stops at the first failure.
  expect(report.steps.at(-1)?.result).toBe('failed');
}

describe('dataStoreCodeFor: store codes onto the five generic ones', () => {
  it('maps each store family and cause', () => {
    expect(dataStoreCodeFor('BLOB_AUTH_FAILED')).toBe('DATA_STORE_AUTH_FAILED');
    expect(dataStoreCodeFor('SFTP_AUTH_FAILED')).toBe('DATA_STORE_AUTH_FAILED');
    expect(dataStoreCodeFor('DATA_SOURCE_AUTH_FAILED', '28P01')).toBe('DATA_STORE_AUTH_FAILED');
    expect(dataStoreCodeFor('BLOB_UNREACHABLE', 'ECONNREFUSED')).toBe('DATA_STORE_UNREACHABLE');
    expect(dataStoreCodeFor('SFTP_UNREACHABLE')).toBe('DATA_STORE_UNREACHABLE');
    expect(dataStoreCodeFor('DATA_SOURCE_FAILED', 'ECONNREFUSED')).toBe('DATA_STORE_UNREACHABLE');
    expect(dataStoreCodeFor('BLOB_TLS_UNTRUSTED')).toBe('DATA_STORE_TLS_UNTRUSTED');
    expect(dataStoreCodeFor('DATA_SOURCE_FAILED', 'DEPTH_ZERO_SELF_SIGNED_CERT')).toBe(
      'DATA_STORE_TLS_UNTRUSTED',
    );
    expect(dataStoreCodeFor('SFTP_HOST_KEY_MISMATCH')).toBe('DATA_STORE_TLS_UNTRUSTED');
    expect(dataStoreCodeFor('BLOB_UNREACHABLE', 'ETIMEDOUT')).toBe('DATA_STORE_TIMEOUT');
    expect(dataStoreCodeFor('BLOB_NOT_FOUND')).toBe('DATA_STORE_NOT_FOUND');
    expect(dataStoreCodeFor('DATA_SOURCE_FAILED', '3D000')).toBe('DATA_STORE_NOT_FOUND');
    expect(dataStoreCodeFor('DATA_SOURCE_FAILED', '1049')).toBe('DATA_STORE_NOT_FOUND');
    // Nothing generic fits: the store's own code stays.
    expect(dataStoreCodeFor('DATA_SOURCE_FAILED')).toBeNull();
    expect(dataStoreCodeFor('LOCAL_PATH_NOT_ALLOWED')).toBeNull();
  });
});

describe('a failed job carries the code Test connection gives for the same cause', () => {
  const cause = (code: string | number) =>
    Object.assign(new Error('under'), typeof code === 'number' ? { errno: code } : { code });
  it('turns a generic source or sink failure with a known cause into its DATA_STORE_* code, with a fix', () => {
    const refused = jobFailure(
      new OpenIrError('DATA_SOURCE_FAILED', 'Cannot reach MySQL.', { cause: cause('ECONNREFUSED') }),
    );
    expect(refused).toMatchObject({ code: 'DATA_STORE_UNREACHABLE', message: 'Cannot reach MySQL.' });
    expect(refused.fix).toBeTruthy();
    const missingDb = jobFailure(
      new OpenIrError('DATA_SINK_FAILED', 'No database.', {
        cause: new Error('x', { cause: cause('3D000') }),
      }),
    );
    expect(missingDb.code).toBe('DATA_STORE_NOT_FOUND');
    expect(jobFailure(new OpenIrError('DATA_SOURCE_FAILED', 'x', { cause: cause(1045) })).code).toBe(
      'DATA_STORE_AUTH_FAILED',
    );
  });
  it("keeps a store's own code, and a generic one whose cause says nothing", () => {
    expect(jobFailure(new OpenIrError('BLOB_AUTH_FAILED', 'x', { cause: cause('ECONNREFUSED') })).code).toBe(
      'BLOB_AUTH_FAILED',
    );
    expect(
      jobFailure(new OpenIrError('DATA_SOURCE_FAILED', 'Bad query.', { cause: cause('42703') })).code,
    ).toBe('DATA_SOURCE_FAILED');
  });
  it('maps only data store codes for the job view', () => {
    expect(jobDataStoreCode('SFTP_HOST_KEY_MISMATCH')).toBe('DATA_STORE_TLS_UNTRUSTED');
    expect(jobDataStoreCode('SINK_TABLE_NOT_FOUND')).toBe('DATA_STORE_NOT_FOUND');
    expect(jobDataStoreCode('CREDENTIAL_NOT_FOUND')).toBeNull();
    expect(jobDataStoreCode('LOCAL_PATH_NOT_ALLOWED')).toBeNull();
  });
});

describe('localFolder', () => {
  it('passes for an allowed folder: exists, allowed, readable, writable; leaves no file behind', async () => {
    const folder = tempDir('openir-conntest-folder-');
    fs.writeFileSync(path.join(folder, 'a.csv'), 'x');
    const { test } = tester([folder]);
    const report = await test({ name: 'drop', type: 'localFolder', root: folder });
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.unsaved).toBe(true);
    expect(report.steps.map((s) => [s.id, s.result])).toEqual([
      ['exists', 'passed'],
      ['allowed', 'passed'],
      ['readable', 'passed'],
      ['writable', 'passed'],
    ]);
    expect(fs.readdirSync(folder)).toEqual(['a.csv']);
  });

  it('a missing folder is DATA_STORE_NOT_FOUND; a folder off the allow-list keeps LOCAL_PATH_NOT_ALLOWED', async () => {
    const folder = tempDir('openir-conntest-folder-');
    const { test } = tester([folder]);
    expectFailure(
      await test({ name: 'drop', type: 'localFolder', root: path.join(folder, 'missing') }),
      'DATA_STORE_NOT_FOUND',
      'exists',
    );
    const other = tempDir('openir-conntest-other-');
    expectFailure(
      await test({ name: 'drop', type: 'localFolder', root: other }),
      'LOCAL_PATH_NOT_ALLOWED',
      'allowed',
    );
  });

  it('a saved credential is tested by name', async () => {
    const folder = tempDir('openir-conntest-folder-');
    const { store, service } = tester([folder]);
    await store.set({ name: 'drop', type: 'localFolder', root: folder });
    const report = await service.test({ name: 'drop' });
    expect(report).toMatchObject({ ok: true, unsaved: false, name: 'drop', type: 'localFolder' });
    await expect(service.test({ name: 'nope' })).rejects.toMatchObject({ code: 'CREDENTIAL_NOT_FOUND' });
  });
});

describe('http', () => {
  const TOKEN = 'conntest-token-123';
  let server: http.Server;
  let base = '';
  const methods: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      methods.push(req.method ?? '');
      if (req.headers.authorization !== `Bearer ${TOKEN}`) res.writeHead(401).end();
      else res.writeHead(req.url === '/api/' ? 200 : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.skipIf(!opensslAvailable)(
    'HTTPS with an untrusted certificate is DATA_STORE_TLS_UNTRUSTED',
    async () => {
      const fixture = selfSignedByOpenssl(tempDir('openir-conntest-https-'), 'api.test', 'IP:127.0.0.1');
      const secure = https.createServer(
        { cert: fs.readFileSync(fixture.cert), key: fs.readFileSync(fixture.key) },
        (_req, res) => res.writeHead(200).end(),
      );
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      try {
        const port = (secure.address() as net.AddressInfo).port;
        const report = await tester().test({
          name: 'api',
          type: 'http',
          baseUrl: `https://127.0.0.1:${port}/`,
          bearerToken: TOKEN,
        });
        expectFailure(report, 'DATA_STORE_TLS_UNTRUSTED', 'request');
        expect(report.failure?.message).not.toMatch(/control plane/i);
      } finally {
        secure.close();
      }
    },
  );

  it('passes with the right token (a HEAD with the auth)', async () => {
    const { test, messages } = tester();
    const report = await test({ name: 'api', type: 'http', baseUrl: `${base}/api/`, bearerToken: TOKEN });
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.steps[0]).toMatchObject({ id: 'request', result: 'passed', detail: 'HTTP 200' });
    expect(methods.at(-1)).toBe('HEAD');
    // The token typed in the form is in no log line.
    expect(messages().join('\n')).not.toContain(TOKEN);
  });

  it('an unsaved form without the token uses the saved one (editing); testing writes nothing', async () => {
    const { store, service, home } = tester();
    await store.set({ name: 'api', type: 'http', baseUrl: `${base}/api/`, bearerToken: TOKEN });
    const before = fs.readFileSync(path.join(home, 'credentials.json'), 'utf8');
    const report = await service.test({ credential: { name: 'api', type: 'http', baseUrl: `${base}/api/` } });
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(methods.length).toBeGreaterThan(0);
    // Another name has no saved token to borrow.
    const other = await service.test({ credential: { name: 'api2', type: 'http', baseUrl: `${base}/api/` } });
    expect(other.failure?.code).toBe('DATA_STORE_AUTH_FAILED');
    expect(fs.readFileSync(path.join(home, 'credentials.json'), 'utf8')).toBe(before);
  });

  it('a wrong token is DATA_STORE_AUTH_FAILED; a closed port DATA_STORE_UNREACHABLE; a wrong path NOT_FOUND', async () => {
    const { test } = tester();
    expectFailure(
      await test({ name: 'api', type: 'http', baseUrl: `${base}/api/`, bearerToken: 'wrong' }),
      'DATA_STORE_AUTH_FAILED',
      'request',
    );
    const closed = await freePort();
    const unreachable = await test({
      name: 'api',
      type: 'http',
      baseUrl: `http://127.0.0.1:${closed}/`,
      bearerToken: TOKEN,
    });
    expectFailure(unreachable, 'DATA_STORE_UNREACHABLE', 'request');
    expect(failedStep(unreachable)?.error?.storeCode).toContain('ECONNREFUSED');
    expectFailure(
      await test({ name: 'api', type: 'http', baseUrl: `${base}/nothing/`, bearerToken: TOKEN }),
      'DATA_STORE_NOT_FOUND',
      'request',
    );
  });
});

const pgFound = findPostgresBin();
describe.skipIf(pgFound.bin === null || !opensslAvailable)('postgresql (real server)', () => {
  let pg: RunningPostgres;
  const PASSWORD = 'conntest-pg-pw';
  const input = (extra: Partial<Extract<CredentialInput, { type: 'postgresql' }>> = {}): CredentialInput => ({
    name: 'pg',
    type: 'postgresql',
    host: pg.host,
    port: pg.port,
    database: 'shop',
    user: 'reader',
    ssl: false,
    password: PASSWORD,
    ...extra,
  });
  beforeAll(async () => {
    pg = await startPostgres();
    await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE shop OWNER reader;`);
    // TLS with a self-signed certificate this node does not trust.
    const dir = tempDir('openir-conntest-pgtls-');
    const fixture = selfSignedByOpenssl(dir, 'pg.test', 'IP:127.0.0.1');
    const dataDir = (await pg.sql('SHOW data_directory;')).trim();
    fs.copyFileSync(fixture.cert, path.join(dataDir, 'server.crt'));
    fs.copyFileSync(fixture.key, path.join(dataDir, 'server.key'));
    fs.chmodSync(path.join(dataDir, 'server.key'), 0o600);
    const owner = fs.statSync(dataDir);
    fs.chownSync(path.join(dataDir, 'server.crt'), owner.uid, owner.gid);
    fs.chownSync(path.join(dataDir, 'server.key'), owner.uid, owner.gid);
    await pg.sql('ALTER SYSTEM SET ssl = on;');
    await pg.sql('SELECT pg_reload_conf();');
  }, 120_000);
  afterAll(stopAllPostgres);

  it('passes: connect, sign in, read-only session, SELECT 1, server version', async () => {
    const report = await tester().test(input());
    expect(report.ok, JSON.stringify(report, null, 2)).toBe(true);
    expect(report.steps.map((s) => [s.id, s.result])).toEqual([
      ['connect', 'passed'],
      ['tls', 'skipped'],
      ['signIn', 'passed'],
      ['readOnly', 'passed'],
      ['select1', 'passed'],
      ['version', 'passed'],
    ]);
    expect(report.steps.find((s) => s.id === 'version')?.detail).toMatch(/^PostgreSQL \d+/);
    expect(report.steps.find((s) => s.id === 'readOnly')?.detail).toBe('transaction_read_only = on');
  });

  it('a wrong password is DATA_STORE_AUTH_FAILED, with SQLSTATE 28P01 kept', async () => {
    const report = await tester().test(input({ password: 'wrong' }));
    expectFailure(report, 'DATA_STORE_AUTH_FAILED', 'signIn');
    expect(failedStep(report)?.error?.storeCode).toContain('28P01');
  });

  it('a missing database is DATA_STORE_NOT_FOUND', async () => {
    expectFailure(await tester().test(input({ database: 'nope' })), 'DATA_STORE_NOT_FOUND', 'signIn');
  });

  it('a server that accepts but never answers is DATA_STORE_TIMEOUT at the sign-in step', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const report = await tester([], 1500).test(input({ port }));
      expectFailure(report, 'DATA_STORE_TIMEOUT', 'signIn');
      expect(report.steps[0]).toMatchObject({ id: 'connect', result: 'passed' });
    } finally {
      silent.close();
    }
  });

  it('a closed port is DATA_STORE_UNREACHABLE at the connect step', async () => {
    expectFailure(
      await tester().test(input({ port: await freePort() })),
      'DATA_STORE_UNREACHABLE',
      'connect',
    );
  });

  it('TLS with an untrusted certificate is DATA_STORE_TLS_UNTRUSTED', async () => {
    const report = await tester().test(input({ ssl: true }));
    expectFailure(report, 'DATA_STORE_TLS_UNTRUSTED', 'tls');
  });
});

const mariadbFound = findMariadb();
describe.skipIf(!mariadbFound.found)('mysql (real MariaDB)', () => {
  let db: RunningMariadb;
  const PASSWORD = 'conntest-my-pw';
  const input = (extra: Partial<Extract<CredentialInput, { type: 'mysql' }>> = {}): CredentialInput => ({
    name: 'my',
    type: 'mysql',
    host: db.host,
    port: db.port,
    database: 'shop',
    user: 'reader',
    ssl: false,
    password: PASSWORD,
    ...extra,
  });
  beforeAll(async () => {
    db = await startMariadb();
    await db.sql(
      `CREATE DATABASE shop; CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'; GRANT SELECT ON shop.* TO 'reader'@'127.0.0.1';`,
    );
  }, 120_000);
  afterAll(stopAllMariadb);

  it('passes: connect, sign in, SELECT 1, server version', async () => {
    const report = await tester().test(input());
    expect(report.ok, JSON.stringify(report, null, 2)).toBe(true);
    expect(report.steps.map((s) => s.id)).toEqual(['connect', 'tls', 'select1', 'version']);
    expect(report.steps.find((s) => s.id === 'version')?.detail).toMatch(/MariaDB/);
  });

  it('a wrong password is DATA_STORE_AUTH_FAILED (ER_ACCESS_DENIED_ERROR kept)', async () => {
    const report = await tester().test(input({ password: 'wrong' }));
    expectFailure(report, 'DATA_STORE_AUTH_FAILED', 'tls');
    expect(failedStep(report)?.error?.storeCode).toContain('ER_ACCESS_DENIED_ERROR');
  });

  it('a missing database is DATA_STORE_NOT_FOUND', async () => {
    await db.sql("GRANT SELECT ON nope.* TO 'reader'@'127.0.0.1';");
    expectFailure(await tester().test(input({ database: 'nope' })), 'DATA_STORE_NOT_FOUND', 'tls');
  });

  it('a closed port is DATA_STORE_UNREACHABLE', async () => {
    expectFailure(
      await tester().test(input({ port: await freePort() })),
      'DATA_STORE_UNREACHABLE',
      'connect',
    );
  });
});

const sshdFound = findSshd();
describe.skipIf(!sshdFound.found)('sftp (real OpenSSH)', () => {
  let sshd: RunningSshd;
  const input = (extra: Partial<Extract<CredentialInput, { type: 'sftp' }>> = {}): CredentialInput => ({
    name: 'sf',
    type: 'sftp',
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    root: sshd.root,
    auth: 'password',
    hostKey: sshd.fingerprint,
    password: sshd.password,
    ...extra,
  });
  beforeAll(async () => {
    sshd = await startSshd();
  }, 60_000);
  afterAll(stopAllSshd);

  it('passes: connect, host key pinned, sign in, stat the root', async () => {
    const report = await tester().test(input());
    expect(report.ok, JSON.stringify(report, null, 2)).toBe(true);
    expect(report.steps.map((s) => s.id)).toEqual(['connect', 'hostKey', 'signIn', 'root']);
  });

  it('a wrong password is DATA_STORE_AUTH_FAILED (SFTP_AUTH_FAILED kept)', async () => {
    const report = await tester().test(input({ password: 'wrong' }));
    expectFailure(report, 'DATA_STORE_AUTH_FAILED', 'signIn');
    expect(failedStep(report)?.error?.storeCode).toContain('SFTP_AUTH_FAILED');
  });

  it('another host key is DATA_STORE_TLS_UNTRUSTED before any sign-in', async () => {
    const report = await tester().test(input({ hostKey: `SHA256:${'A'.repeat(43)}` }));
    expectFailure(report, 'DATA_STORE_TLS_UNTRUSTED', 'hostKey');
    expect(failedStep(report)?.error?.storeCode).toContain('SFTP_HOST_KEY_MISMATCH');
  });

  it('a missing root is DATA_STORE_NOT_FOUND; a closed port DATA_STORE_UNREACHABLE', async () => {
    expectFailure(
      await tester().test(input({ root: `${sshd.root}/missing` })),
      'DATA_STORE_NOT_FOUND',
      'root',
    );
    expectFailure(
      await tester().test(input({ port: await freePort() })),
      'DATA_STORE_UNREACHABLE',
      'connect',
    );
  });
});

describe.skipIf(!azuriteAvailable || !opensslAvailable)('azureBlob (real Azurite)', () => {
  let azurite: Azurite;
  let azuriteTls: Azurite;
  const input = (extra: Partial<Extract<CredentialInput, { type: 'azureBlob' }>> = {}): CredentialInput => ({
    name: 'lake',
    type: 'azureBlob',
    accountUrl: azurite.accountUrl,
    container: 'exports',
    auth: 'key',
    secret: AZURITE_KEY,
    ...extra,
  });
  const sas = (permissions: string) =>
    generateBlobSASQueryParameters(
      {
        containerName: 'exports',
        permissions: ContainerSASPermissions.parse(permissions),
        startsOn: new Date(Date.now() - 3600_000),
        expiresOn: new Date(Date.now() + 3600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
  beforeAll(async () => {
    azurite = await startAzurite();
    const dir = tempDir('openir-conntest-aztls-');
    const fixture = selfSignedByOpenssl(dir, 'azurite.test', 'IP:127.0.0.1');
    azuriteTls = await startAzurite({ tls: { cert: fixture.cert, key: fixture.key } });
    await new ContainerClient(
      `${azurite.accountUrl}/exports`,
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).create();
  }, 60_000);
  afterAll(stopAllAzurites);

  it('passes with the account key and with a listing SAS', async () => {
    const report = await tester().test(input());
    expect(report.ok, JSON.stringify(report, null, 2)).toBe(true);
    const listing = await tester().test(input({ auth: 'sas', secret: sas('rl') }));
    expect(listing.ok, JSON.stringify(listing, null, 2)).toBe(true);
    expect(listing.steps[0]?.detail).toBe('listing permitted');
  });

  it('a write-only SAS passes, saying that listing is not permitted and that this is expected', async () => {
    const report = await tester().test(input({ auth: 'sas', secret: sas('cw') }));
    expect(report.ok, JSON.stringify(report, null, 2)).toBe(true);
    expect(report.steps[0]?.detail).toMatch(/listing is not permitted: expected for a write-only SAS/);
  });

  it('a wrong key is DATA_STORE_AUTH_FAILED (BLOB_AUTH_FAILED kept)', async () => {
    const wrong = Buffer.from('not-the-key-of-this-account-at-all-0123456789').toString('base64');
    const report = await tester().test(input({ secret: wrong }));
    expectFailure(report, 'DATA_STORE_AUTH_FAILED', 'container');
    expect(failedStep(report)?.error?.storeCode).toContain('BLOB_AUTH_FAILED');
  });

  it('a missing container is DATA_STORE_NOT_FOUND; a closed port DATA_STORE_UNREACHABLE', async () => {
    expectFailure(await tester().test(input({ container: 'missing' })), 'DATA_STORE_NOT_FOUND', 'container');
    const closed = await freePort();
    expectFailure(
      await tester().test(input({ accountUrl: `http://127.0.0.1:${closed}/${AZURITE_ACCOUNT}` })),
      'DATA_STORE_UNREACHABLE',
      'container',
    );
  });

  it('an untrusted TLS certificate is DATA_STORE_TLS_UNTRUSTED', async () => {
    const report = await tester().test(input({ accountUrl: azuriteTls.accountUrl }));
    expectFailure(report, 'DATA_STORE_TLS_UNTRUSTED', 'container');
  });
});
