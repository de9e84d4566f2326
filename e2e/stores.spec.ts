/// <reference lib="dom" />
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { expect, test, type Page } from '@playwright/test';
import {
  blobCredentialArgs,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  startAzurite,
  stopAllAzurites,
} from '../test/helpers/azurite';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { startDataServer } from '../test/helpers/dataServer';
import {
  createTypedTable,
  findMariadb,
  mysqlCredentialArgs,
  startMariadb,
  stopAllMariadb,
} from '../test/helpers/mariadb';
import { runCli } from '../test/helpers/node';
import {
  findPostgresBin,
  postgresCredentialArgs,
  startPostgres,
  stopAllPostgres,
} from '../test/helpers/postgres';
import { findSshd, sftpCredentialArgs, startSshd, stopAllSshd } from '../test/helpers/sshd';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';
import type { JobView as JobJson } from '../src/control-plane/jobStore';

/**
 * Home's Recent jobs with jobs of every kind of store, all real: a local folder, an HTTP data store,
 * Azurite (Blob), PostgreSQL (source and sink), MariaDB and OpenSSH (SFTP), through a real control plane. Each row
 * says what kind of store each end is, next to the credential and location.
 */

test.describe.configure({ mode: 'serial' });

const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(10).toString('hex')}`;
const havePostgres = findPostgresBin().bin !== null;
const haveMariadb = findMariadb().found;
const haveSshd = findSshd().found;

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let dataServer: http.Server;

const recentJobs = () => page.getByRole('table', { name: 'Recent jobs' });

async function cli(args: string[], stdin?: string) {
  const result = await runCli([...args, '--json'], {
    env: web.env,
    ...(stdin === undefined ? {} : { stdin }),
  });
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
}

async function runJob(source: string, sink: string, extra: string[] = []): Promise<JobJson> {
  const submitted = await cp.adminOk<JobJson>([
    'job',
    'submit',
    '--ir',
    'stores-ui-ir',
    '--source',
    source,
    '--sink',
    sink,
    ...extra,
  ]);
  const job = await cp.waitJob(
    submitted.id,
    (j) => ['Succeeded', 'Failed', 'Cancelled'].includes(j.state),
    60_000,
  );
  expect(job.state, `${source} → ${sink}: ${job.reason ?? ''}`).toBe('Succeeded');
  return job;
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  const dataRoot = fs.realpathSync(tempDir('openir-ui-stores-'));
  fs.writeFileSync(
    path.join(dataRoot, 'orders.csv'),
    'id,amount,label,day\n1,2.500,first,2026-01-02\n2,3.750,,2026-01-03\n',
  );
  dataServer = startDataServer({ token: TOKEN, slowData: randomBytes(512 * 1024) }).server;
  await new Promise<void>((resolve) => dataServer.listen(0, '127.0.0.1', resolve));
  const webUrl = `http://127.0.0.1:${(dataServer.address() as AddressInfo).port}/`;
  const azurite = await startAzurite();
  await new BlobServiceClient(
    azurite.accountUrl,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  )
    .getContainerClient('exports')
    .create();
  cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 15_000 });
  const key = (await cp.createIr('stores-ui-ir')).key1;
  web = await startWebHost();
  await cli(['config', 'allow-folder', dataRoot]);
  await cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
  await cli(
    ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
    `${TOKEN}\n`,
  );
  await cli(blobCredentialArgs('lake', azurite), `${AZURITE_KEY}\n`);
  if (havePostgres) {
    const pg = await startPostgres();
    await pg.sql(`CREATE ROLE app LOGIN PASSWORD '${PASSWORD}'; CREATE DATABASE shop OWNER app;`);
    await pg.sql(
      `SET ROLE app; CREATE TABLE orders (id integer, amount numeric(12,3), label text, day date);
       CREATE TABLE sales AS SELECT g AS id, g * 1.5 AS amount FROM generate_series(1, 5000) g;`,
      'shop',
    );
    await cli(postgresCredentialArgs('warehouse', pg, { user: 'app', json: false }), `${PASSWORD}\n`);
  }
  if (haveMariadb) {
    const db = await startMariadb();
    await createTypedTable(db, 2000, { password: PASSWORD });
    await cli(mysqlCredentialArgs('erp', db, { json: false }), `${PASSWORD}\n`);
  }
  if (haveSshd) {
    const server = await startSshd();
    await cli(
      sftpCredentialArgs('dropbox', server, ['--host-key', server.fingerprint, '--secret-stdin']),
      `${server.password}\n`,
    );
  }
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code, registered.stderr).toBe(0);
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page?.close();
  await web?.stop();
  await stopControlPlanes();
  await stopAllPostgres();
  await stopAllMariadb();
  await stopAllAzurites();
  await stopAllSshd();
  dataServer?.closeAllConnections();
  dataServer?.close();
  cleanupTempDirs();
});

test('Home lists jobs of every kind of store, each end with its kind', async () => {
  test.setTimeout(180_000);
  await runJob('web:slow/500000', 'staging');
  await runJob('files:orders.csv', 'lake:in/orders.csv');
  await runJob('lake:in/orders.csv', 'files:back/orders.csv');
  if (havePostgres) {
    await runJob('warehouse:SELECT * FROM sales ORDER BY id', 'lake:exports/sales.csv', ['--format', 'csv']);
    await runJob('files:orders.csv', 'warehouse:table:public.orders', [
      '--format',
      'csv',
      '--mode',
      'truncate',
    ]);
  }
  if (haveSshd) await runJob('lake:in/orders.csv', 'dropbox:drop/orders.csv');
  if (haveMariadb) await runJob('erp:table:t', 'lake:exports/t.ndjson', ['--format', 'ndjson']);
  const rows = recentJobs().locator('tbody tr');
  await expect(rows).toHaveCount(3 + (havePostgres ? 2 : 0) + (haveMariadb ? 1 : 0) + (haveSshd ? 1 : 0));
  await expect(rows.first()).toContainText(haveMariadb ? 'MySQL/MariaDB' : 'Azure Blob');
  await expect(recentJobs()).toContainText('Local folder');
  await expect(recentJobs()).toContainText('HTTP(S)');
  await expect(recentJobs()).toContainText('Azure Blob');
  if (havePostgres) await expect(recentJobs()).toContainText('PostgreSQL');
  if (haveSshd) await expect(recentJobs()).toContainText('SFTP dropbox:drop/orders.csv');
  if (haveMariadb) await expect(rows.first()).toContainText('MySQL/MariaDB erp:table:t');
  await recentJobs().scrollIntoViewIfNeeded();
  await shootBoth(page, 'home-jobs-by-kind', true);
});
