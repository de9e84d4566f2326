/// <reference lib="dom" />
import fs from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { formatAuthKey, parseAuthKey } from '../src/shared/authKey';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { freePort, runCli } from '../test/helpers/node';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/**
 * Diagnostics › Troubleshoot against a real `openir serve` and a real control
 * plane: a failed registration links to it and it runs against the pasted
 * key's control plane (down: TCP connect is the first failure); registered,
 * a data store on a closed port is the first failure and its port row says
 * refused; the report saves as HTML with no script. Pictured light and dark.
 */

test.describe.configure({ mode: 'serial' });

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let key = '';

const section = () => page.locator('#troubleshoot');

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  cp = await startControlPlane({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 15_000 });
  key = (await cp.createIr('troubleshoot-ui-ir')).key1;
  web = await startWebHost();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page?.close();
  await web?.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('a failed registration links to Troubleshoot, which tries the key’s control plane', async () => {
  const down = formatAuthKey({ ...parseAuthKey(key), endpoint: `https://127.0.0.1:${await freePort()}` });
  await page.getByLabel('Authentication key', { exact: true }).fill(down);
  await page.getByRole('button', { name: 'Register' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Failed to register' });
  await expect(alert).toContainText('Cannot reach the control plane');
  const link = alert.getByRole('button', { name: 'Troubleshoot this connection' });
  await expect(link).toBeVisible();
  await shootBoth(page, 'register-troubleshoot-link');

  await link.click();
  await expect(page.getByRole('tab', { name: 'Diagnostics' })).toHaveAttribute('aria-selected', 'true');
  const first = section().getByRole('alert');
  await expect(first).toContainText('First failure: TCP connect', { timeout: 60_000 });
  await expect(first).toContainText('CONTROL_PLANE_UNREACHABLE');
  await expect(first).toContainText('How to fix');
  const checks = section().getByRole('list', { name: 'Checks, in order' });
  await expect(checks.locator('[data-check="tls"]')).toContainText('Skipped');
  await expect(checks.locator('[data-check="dataDir"]')).toContainText('Passed');
  await expect(section().locator('[data-port-result="refused"]')).toHaveCount(1);
  await shootBoth(page, 'troubleshoot-from-register');
});

test('registered: a data store on a closed port is the first failure; its port row says refused', async ({
  browser,
}) => {
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code, registered.stderr).toBe(0);
  const closed = await freePort();
  const set = await runCli(
    [
      'credential',
      'set',
      'sales-db',
      '--type',
      'postgresql',
      '--host',
      '127.0.0.1',
      '--port',
      String(closed),
      '--database',
      'sales',
      '--user',
      'reader',
      '--no-ssl',
      '--secret-stdin',
      '--json',
    ],
    { env: web.env, stdin: 'not-used' },
  );
  expect(set.code, set.stderr).toBe(0);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 20_000 });
  await page.getByRole('tab', { name: 'Diagnostics' }).click();
  await section().getByRole('button', { name: 'Run again' }).click();
  const first = section().getByRole('alert');
  await expect(first).toContainText('First failure: Data store sales-db (postgresql)', { timeout: 60_000 });
  await expect(first).toContainText('DATA_STORE_UNREACHABLE');
  const checks = section().getByRole('list', { name: 'Checks, in order' });
  for (const id of ['dataDir', 'vault', 'clock', 'dns', 'tcp', 'proxy', 'tls', 'nodeCredential', 'channel']) {
    await expect(checks.locator(`[data-check="${id}"]`)).toContainText('Passed');
  }
  const ports = section().getByRole('table', { name: 'Ports' });
  await expect(ports.getByRole('row', { name: /Control plane/ })).toContainText('open');
  await expect(ports.getByRole('row', { name: /sales-db/ })).toContainText('refused');
  await section().scrollIntoViewIfNeeded();
  await shootBoth(page, 'troubleshoot-failure', true);

  const download = page.waitForEvent('download');
  await section().getByRole('button', { name: 'Save HTML report' }).click();
  const saved = await download;
  expect(saved.suggestedFilename()).toMatch(/^openir-troubleshoot-.*\.html$/);
  const html = fs.readFileSync(await saved.path(), 'utf8');
  expect(html).toContain('First failure: Data store sales-db (postgresql)');
  expect(html).not.toMatch(/<script/i);

  // The saved page itself, as a support engineer opens it offline.
  const report = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await report.setContent(html);
  await shootBoth(report, 'troubleshoot-html-report', true);
  await report.close();
});
