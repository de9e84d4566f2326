/// <reference lib="dom" />
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';
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
 * Diagnostics › Create diagnostics bundle against a real `openir serve` and a real control plane:
 * the zip downloads with its ID in the name and in the manifest, the page shows the ID, and "Send to
 * control plane" puts the same bytes on the control plane (`diagnostics get`).
 */

test.describe.configure({ mode: 'serial' });

const PROXY_PASSWORD = 'ui-proxy-password-5d1f0c2b9e';

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;

const bundleCard = () => page.getByRole('region', { name: 'Diagnostics bundle' });

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  const key1 = (await cp.createIr('bundle-ui-ir')).key1;
  web = await startWebHost({ OPENIR_VAULT: 'file' });
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key1 });
  expect(registered.code, registered.stderr).toBe(0);
  page = await browser.newPage({ acceptDownloads: true });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

const save = async (run: () => Promise<void>) => {
  const downloading = page.waitForEvent('download');
  await run();
  const download = await downloading;
  const file = path.join(tempDir('openir-ui-bundle-'), download.suggestedFilename());
  await download.saveAs(file);
  return { file, name: download.suggestedFilename() };
};

test('Create diagnostics bundle saves the zip and shows its ID', async () => {
  await page.getByRole('tab', { name: 'Diagnostics' }).click();
  const card = bundleCard();
  await expect(card.getByRole('button', { name: 'Create diagnostics bundle' })).toBeVisible();
  await card.scrollIntoViewIfNeeded();
  await shootBoth(page, 'diagnostics-bundle-ready');

  const { file, name } = await save(() =>
    card.getByRole('button', { name: 'Create diagnostics bundle' }).click(),
  );
  const id = /^openir-diagnostics-(OIR-[0-9A-Z]{12})\.zip$/.exec(name)?.[1];
  expect(id, name).toBeDefined();
  await expect(card.getByRole('status').filter({ hasText: 'Bundle ID' })).toContainText(id ?? '');
  const files = unzipSync(new Uint8Array(fs.readFileSync(file)));
  expect(JSON.parse(Buffer.from(files['manifest.json'] ?? []).toString()).id).toBe(id);
  expect(Object.keys(files)).toContain('logs/openir.log');
  await shootBoth(page, 'diagnostics-bundle-created');
});

test('Send to control plane uploads the same bytes the page saved', async () => {
  // A proxy password on this node: it must not be in the bundle (the proxy is unused: mode set back to none).
  for (const args of [
    [
      'proxy',
      'set',
      '--mode',
      'custom',
      '--address',
      'proxy.ui.test',
      '--port',
      '3128',
      '--user',
      'u',
      '--password-stdin',
    ],
    ['proxy', 'set', '--mode', 'none'],
  ]) {
    const result = await runCli(args, { env: web.env, stdin: PROXY_PASSWORD });
    expect(result.code, result.stderr).toBe(0);
  }
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  const card = bundleCard();
  await card.getByLabel('Send to control plane').check();
  const { file, name } = await save(() =>
    card.getByRole('button', { name: 'Create diagnostics bundle' }).click(),
  );
  const id = /(OIR-[0-9A-Z]{12})/.exec(name)?.[1] ?? '';
  await expect(card.getByRole('status').filter({ hasText: 'Bundle ID' })).toContainText(
    'Sent to the control plane',
  );
  const fetched = path.join(tempDir('openir-ui-bundle-get-'), 'fetched.zip');
  const got = await cp.admin(['diagnostics', 'get', id, '--out', fetched]);
  expect(got.code, got.stderr).toBe(0);
  const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  expect(sha(fetched)).toBe(sha(file));
  expect(fs.readFileSync(file).includes(Buffer.from(PROXY_PASSWORD))).toBe(false);
  await card.scrollIntoViewIfNeeded();
  await shootBoth(page, 'diagnostics-bundle-sent');
});

test('the bundle result stays readable at 200 % zoom (a 640 px wide viewport)', async () => {
  await page.setViewportSize({ width: 640, height: 700 });
  await bundleCard().scrollIntoViewIfNeeded();
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await shootBoth(page, 'diagnostics-bundle-zoom200');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('with the control plane down the bundle is still saved, and the page says why it was not sent', async () => {
  await cp.stop();
  await expect(page.getByTestId('node-status')).toHaveText('Offline', { timeout: 15_000 });
  const card = bundleCard();
  await expect(card.getByLabel('Send to control plane')).toBeChecked();
  const { file } = await save(() => card.getByRole('button', { name: 'Create diagnostics bundle' }).click());
  expect(Object.keys(unzipSync(new Uint8Array(fs.readFileSync(file))))).toContain('manifest.json');
  const warning = card.getByRole('alert').filter({ hasText: 'Saved, but not sent' });
  await expect(warning.first()).toContainText('CONTROL_PLANE_UNREACHABLE');
  await card.scrollIntoViewIfNeeded();
  await shootBoth(page, 'diagnostics-bundle-not-sent');
});
