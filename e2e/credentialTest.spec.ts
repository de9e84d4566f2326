/// <reference lib="dom" />
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { runCli } from '../test/helpers/node';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/**
 * The credential dialog's Test button, against a real `openir serve`, a real
 * control plane and a real HTTP data store behind a bearer token: the unsaved
 * form is tested before saving; the steps show, passed and failed, with the
 * failure's code and fix. Pictured light and dark.
 */

test.describe.configure({ mode: 'serial' });

const TOKEN = 'conntest-ui-token-7f3a';
let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let store: http.Server;
let storeUrl = '';
const requests: string[] = [];

const dialog = () => page.getByRole('dialog', { name: 'Data store credential' });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  store = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(req.headers.authorization === `Bearer ${TOKEN}` ? 200 : 401).end();
  });
  await new Promise<void>((resolve) => store.listen(0, '127.0.0.1', resolve));
  storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}/api/`;
  cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 15_000 });
  const key = (await cp.createIr('conntest-ui-ir')).key1;
  web = await startWebHost();
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code, registered.stderr).toBe(0);
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  await page.getByRole('tab', { name: 'Settings' }).click();
});

test.afterAll(async () => {
  await page?.close();
  await web?.stop();
  await stopControlPlanes();
  store?.closeAllConnections();
  store?.close();
  cleanupTempDirs();
});

test('Test in the dialog, before saving: the steps pass with the right token, fail with a wrong one', async () => {
  await page
    .getByRole('region', { name: 'Data store credentials', exact: true })
    .getByRole('button', { name: 'Add credential' })
    .click();
  const edit = dialog();
  await edit.getByLabel('HTTP(S) endpoint', { exact: true }).check();
  await edit.getByLabel('Name', { exact: true }).fill('api');
  await edit.getByLabel('Base URL', { exact: true }).fill(storeUrl);
  await edit.getByLabel('Bearer token (optional)', { exact: true }).fill(TOKEN);
  await edit.getByRole('button', { name: 'Test' }).click();
  await expect(edit.getByText('Test passed: the data store answered')).toBeVisible({ timeout: 20_000 });
  const steps = edit.getByRole('list', { name: 'Test steps of api' });
  await expect(steps.getByRole('listitem')).toHaveCount(1);
  await expect(steps).toContainText('Passed');
  await expect(steps).toContainText('HTTP 200');
  // The form's token reached the store: the host tested the unsaved values.
  expect(requests.at(-1)).toBe(`HEAD /api/ Bearer ${TOKEN}`);
  await shootBoth(page, 'credential-test-passed');

  await edit.getByLabel('Bearer token (optional)', { exact: true }).fill('wrong-token');
  // A changed field clears the old result: it belonged to the old values.
  await expect(steps).toHaveCount(0);
  await edit.getByRole('button', { name: 'Test' }).click();
  const alert = edit.getByRole('alert').filter({ hasText: 'Test failed' });
  await expect(alert).toBeVisible({ timeout: 20_000 });
  await expect(alert).toContainText('the credential was refused');
  await expect(edit.getByRole('list', { name: 'Test steps of api' })).toContainText('DATA_STORE_AUTH_FAILED');
  await shootBoth(page, 'credential-test-failed');

  // Nothing was saved by testing.
  const list = await runCli(['credential', 'list', '--json'], { env: web.env });
  expect((list.json as { credentials: unknown[] }).credentials).toEqual([]);
  await edit.getByRole('button', { name: 'Cancel' }).click();
});

test('a local folder: each step in order, the first failure named, then all four pass once allowed', async () => {
  const folder = fs.realpathSync(tempDir('openir-conntest-ui-folder-'));
  await page
    .getByRole('region', { name: 'Data store credentials', exact: true })
    .getByRole('button', { name: 'Add credential' })
    .click();
  const edit = dialog();
  await edit.getByLabel('Local folder', { exact: true }).check();
  await edit.getByLabel('Name', { exact: true }).fill('drop');
  await edit.getByLabel('Root folder', { exact: true }).fill(folder);
  await edit.getByRole('button', { name: 'Test' }).click();
  const steps = edit.getByRole('list', { name: 'Test steps of drop' });
  await expect(steps.getByRole('listitem')).toHaveCount(2, { timeout: 20_000 });
  await expect(steps.getByRole('listitem').nth(0)).toContainText('Passed');
  await expect(steps.getByRole('listitem').nth(1)).toContainText('LOCAL_PATH_NOT_ALLOWED');
  await expect(edit.getByRole('alert').filter({ hasText: 'Test failed' })).toContainText('allow-folder');
  await shootBoth(page, 'credential-test-folder-not-allowed');

  const allowed = await runCli(['config', 'allow-folder', folder, '--json'], { env: web.env });
  expect(allowed.code, allowed.stderr).toBe(0);
  await edit.getByRole('button', { name: 'Test' }).click();
  await expect(edit.getByText('Test passed: the data store answered')).toBeVisible({ timeout: 20_000 });
  await expect(steps.getByRole('listitem')).toHaveCount(4);
  await expect(steps).toContainText('Writable (create and delete a temporary file)');
  // The write probe left nothing behind.
  expect(fs.readdirSync(folder)).toEqual([]);
  await shootBoth(page, 'credential-test-folder-passed');
  await edit.getByRole('button', { name: 'Cancel' }).click();
});
