/// <reference lib="dom" />
import { expect, test, type Page } from '@playwright/test';
import { formatAuthKey, parseAuthKey } from '../src/shared/authKey';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { rawRequest } from '../test/helpers/http';
import { freePort } from '../test/helpers/node';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/**
 * The Configuration Manager in a real browser against a real `openir serve`
 * and a real control plane: the same renderer and contract as the desktop app,
 * over HTTP + WebSocket instead of IPC.
 */

test.describe.configure({ mode: 'serial' });

let cp: RunningControlPlane;
let web: WebHost;
let key1 = '';
let page: Page;

const shoot = (name: string) => shootBoth(page, name, true);

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  key1 = (await cp.createIr('sales-ir')).key1;
  web = await startWebHost();
  page = await browser.newPage();
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('the token is required: no token → 401, another Origin → 403', async () => {
  expect((await rawRequest(`${web.origin}/`)).status).toBe(401);
  const bare = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, { method: 'POST', body: '{}' });
  expect(bare.status).toBe(401);
  const foreign = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
    method: 'POST',
    body: '{}',
    headers: { origin: 'http://evil.example', authorization: `Bearer ${web.token}` },
  });
  expect(foreign.status).toBe(403);
});

test('opening the printed URL shows the Register page', async () => {
  await page.goto(web.url);
  await expect(page).toHaveURL(`${web.origin}/`);
  await expect(page.getByLabel('Authentication key', { exact: true })).toBeVisible();
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration');
  await shoot('register');
});

test('a malformed key is flagged as you type', async () => {
  await page.getByLabel('Authentication key', { exact: true }).fill('IR@not-a-key');
  await expect(page.getByText(/malformed/i).first()).toBeVisible();
});

test('a key for a control plane that is down shows the specific error and its fix', async () => {
  const down = formatAuthKey({ ...parseAuthKey(key1), endpoint: `https://127.0.0.1:${await freePort()}` });
  await page.getByLabel('Authentication key', { exact: true }).fill(down);
  await page.getByRole('button', { name: 'Register' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('Failed to register this Integration Runtime node!');
  await expect(alert).toContainText('Cannot reach the control plane');
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration');
  await shoot('register-error');
});

test('paste the key, Register, and see Online with the node listed', async () => {
  await page.getByLabel('Show authentication key').check();
  await page.getByLabel('Authentication key', { exact: true }).fill(key1);
  await page.getByLabel('Node name (optional)').fill('web-node');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  const nodes = page.getByRole('table', { name: 'Nodes in this integration runtime' });
  await expect(nodes.getByRole('row').filter({ hasText: 'web-node' })).toContainText('Online');
  await expect(page.getByText('sales-ir').first()).toBeVisible();
  await shoot('home');
});

test('the secret never reaches the page after registration', async () => {
  const secret = parseAuthKey(key1).secret;
  expect(await page.content()).not.toContain(secret);
});

test('Settings: stop the service and see Stopped, start it and see Online', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  await shoot('settings');
  await page.getByRole('button', { name: 'Stop service', exact: true }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Stopped', { timeout: 10_000 });
  await page.getByRole('button', { name: 'Start service', exact: true }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test('Diagnostics: live log entries arrive without reloading', async () => {
  await page.getByRole('tab', { name: 'Diagnostics' }).click();
  const logs = page.getByRole('region', { name: 'Log entries' });
  await expect(logs).toContainText('Runtime host service started');
  await shoot('diagnostics');
});

test('the control plane going away shows Offline, and Online again when it is back', async () => {
  await page.getByRole('tab', { name: 'Home' }).click();
  const port = cp.port;
  const dataDir = cp.dataDir;
  await cp.kill();
  await expect(page.getByTestId('node-status')).toHaveText('Offline', { timeout: 10_000 });
  await shoot('home-offline');
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500, dataDir, port });
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test('readable at 200 % zoom (a 640 px wide viewport)', async () => {
  await page.setViewportSize({ width: 640, height: 400 });
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await shoot('home-zoom200');
  await page.setViewportSize({ width: 1280, height: 800 });
});
