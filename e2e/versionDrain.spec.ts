/// <reference lib="dom" />
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { startDataServer } from '../test/helpers/dataServer';
import { runCli } from '../test/helpers/node';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';
import type { JobView as JobJson } from '../src/control-plane/jobStore';

/**
 * Issue 16 items 5 and 6 in the Configuration Manager, against a real
 * `openir serve` and a real control plane: the version policy's banners on
 * Home and Settings (Update available, This version expires on D), and
 * Settings › Drain and stop with its confirmation and progress while a job
 * runs.
 */

test.describe.configure({ mode: 'serial' });

const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const SLOW_BYTES = 8 * 1024 * 1024;
const expiryIn60Days = new Date(Date.now() + 60 * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let dataServer: http.Server;
let version = '';

test.beforeAll(async ({ browser }) => {
  dataServer = startDataServer({ token: TOKEN, slowData: randomBytes(SLOW_BYTES) }).server;
  await new Promise<void>((resolve) => dataServer.listen(0, '127.0.0.1', resolve));
  const webUrl = `http://127.0.0.1:${(dataServer.address() as AddressInfo).port}/`;
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  const key = (await cp.createIr('update-ui-ir')).key1;
  web = await startWebHost();
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code, registered.stderr).toBe(0);
  version = (registered.json as { version: string }).version;
  const credential = await runCli(
    ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin', '--json'],
    { env: web.env, stdin: `${TOKEN}\n` },
  );
  expect(credential.code, credential.stderr).toBe(0);
  page = await browser.newPage();
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  await stopControlPlanes();
  dataServer.closeAllConnections();
  await new Promise<void>((resolve) => dataServer.close(() => resolve()));
  cleanupTempDirs();
});

test('Home and Settings show Update available and the expiry date within a heartbeat', async () => {
  await expect(page.getByTestId('version-banner')).toHaveCount(0);
  const set = await cp.admin([
    'version',
    'set',
    '--latest',
    '0.2.0',
    '--expires',
    `${version}=${expiryIn60Days}`,
  ]);
  expect(set.code, set.stderr).toBe(0);
  const banner = page.getByTestId('version-banner');
  await expect(banner).toContainText('Update available: 0.2.0', { timeout: 10_000 });
  await expect(banner).toContainText(`This version expires on ${expiryIn60Days}`);
  await expect(banner).toContainText(`This node runs ${version}`);
  await shootBoth(page, 'version-home');
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(page.getByTestId('version-banner')).toContainText('Update available: 0.2.0');
  await shootBoth(page, 'version-settings');
});

test('Settings › Drain and stop: asks first, shows the running job finishing, then the host stops', async () => {
  const submitted = await cp.admin<JobJson>([
    'job',
    'submit',
    '--ir',
    'update-ui-ir',
    '--source',
    `web:slow/${SLOW_BYTES}`,
    '--sink',
    'staging',
  ]);
  expect(submitted.code, submitted.stderr).toBe(0);
  const card = page.getByRole('region', { name: 'Runtime host service', exact: true });
  await cp.waitJob(submitted.json.id, (j) => j.state === 'Running', 30_000);
  await expect(card).toBeVisible();
  await card.getByRole('button', { name: 'Drain and stop' }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Drain and stop this node?' });
  await expect(dialog).toContainText('The running job finishes first');
  await shootBoth(page, 'drain-confirm');
  // Cancel changes nothing.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  expect(
    ((await runCli(['status', '--json'], { env: web.env })).json as { drain: unknown }).drain,
  ).toBeNull();

  await card.getByRole('button', { name: 'Drain and stop' }).click();
  await dialog.getByRole('button', { name: 'Drain and stop' }).click();
  const progress = page.getByTestId('drain-control');
  await expect(progress).toContainText('Draining');
  await expect(progress).toContainText('1 running job finishes first; then the service stops.');
  await card.scrollIntoViewIfNeeded();
  await shootBoth(page, 'drain-progress');
  // The control plane shows it as Upgrading meanwhile.
  const nodes = await cp.admin<{ nodes: { shownStatus: string }[] }>(['ir', 'nodes', 'update-ui-ir']);
  expect(nodes.json.nodes[0]?.shownStatus).toBe('Upgrading');

  const done = await cp.waitJob(submitted.json.id, (j) => j.state === 'Succeeded', 60_000);
  expect(done.node?.name).toBeTruthy();
  // The headless host ends once drained.
  await expect
    .poll(() => web.process.exitCode, { timeout: 30_000, message: 'the host process exits' })
    .toBe(0);
});
