import { expect, test, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { runCli } from '../test/helpers/node';
import {
  startTinyproxy,
  stopAllTinyproxies,
  tinyproxyAvailable,
  type Tinyproxy,
} from '../test/helpers/tinyproxy';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/** The proxy dialog in a real browser, saving a real tinyproxy with Basic auth and reconnecting through it. */
const PASSWORD = 'dialog-Proxy-Pass-42';

test.describe.configure({ mode: 'serial' });
test.skip(!tinyproxyAvailable, 'tinyproxy is not installed (apt-get install tinyproxy)');

let cp: RunningControlPlane;
let web: WebHost;
let proxy: Tinyproxy;
let page: Page;

const shoot = (name: string) => shootBoth(page, name);

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  const key = (await cp.createIr('proxy-ui-ir')).key1;
  proxy = await startTinyproxy({ connectPorts: [cp.port], basicAuth: { user: 'alice', password: PASSWORD } });
  web = await startWebHost();
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code).toBe(0);
  page = await browser.newPage();
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  await stopAllTinyproxies();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('Settings shows the proxy row; Change opens the dialog', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(page.getByText('Do not use proxy').first()).toBeVisible();
  await page.getByRole('button', { name: 'Change proxy' }).click();
  await expect(page.getByRole('dialog', { name: 'HTTP proxy' })).toBeVisible();
});

test('custom proxy: inline validation, then Test shows every step', async () => {
  const dialog = page.getByRole('dialog', { name: 'HTTP proxy' });
  await dialog.getByLabel('Use custom proxy').check();
  await dialog.getByLabel('Proxy address').fill('http://127.0.0.1');
  await expect(dialog.getByText('without http://')).toBeVisible();
  await dialog.getByLabel('Proxy address').fill('127.0.0.1');
  await dialog.getByLabel('Port').fill(String(proxy.port));
  await dialog.getByLabel('User name (optional)').fill('alice');
  await dialog.getByLabel('Password (optional)').fill('wrong-password');
  await dialog.getByRole('button', { name: 'Test', exact: true }).click();
  await expect(dialog.getByRole('alert')).toContainText('user name or password', { timeout: 10_000 });
  await shoot('proxy-dialog-test-failed');
  await dialog.getByLabel('Password (optional)').fill(PASSWORD);
  await dialog.getByRole('button', { name: 'Test', exact: true }).click();
  await expect(dialog.getByText('Control plane answers')).toBeVisible({ timeout: 10_000 });
  await expect(dialog.getByRole('alert')).toHaveCount(0);
  await shoot('proxy-dialog-test-ok');
});

test('Save & restart asks first, restarts the service and comes back Online through the proxy', async () => {
  const dialog = page.getByRole('dialog', { name: 'HTTP proxy' });
  const before = proxy.connects().length;
  await dialog.getByRole('button', { name: 'Save & restart' }).click();
  await expect(page.getByText('Saving restarts the Integration Runtime Host Service')).toBeVisible();
  await shoot('proxy-confirm');
  await page.getByRole('button', { name: 'Save and restart' }).click();
  await expect(page.getByRole('dialog', { name: 'HTTP proxy' })).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  expect(
    proxy
      .connects()
      .slice(before)
      .some((line) => line.includes(`CONNECT 127.0.0.1:${cp.port}`)),
  ).toBe(true);
  await expect(page.getByText(`127.0.0.1:${proxy.port}`).first()).toBeVisible();
  await shoot('settings-proxy');
  expect(await page.content()).not.toContain(PASSWORD);
});
