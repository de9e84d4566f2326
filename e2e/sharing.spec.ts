/// <reference lib="dom" />
import fs from 'node:fs';
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
 * A node of a shared IR, against a real control plane and `openir serve`: Home says who the IR is
 * shared with (the control plane tells it), and the credential dialog shows and edits the linked
 * factories a credential is shared with. Light and dark pictures of both.
 */

test.describe.configure({ mode: 'serial' });

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;

async function cli(args: string[], stdin?: string) {
  const result = await runCli([...args, '--json'], {
    env: web.env,
    ...(stdin === undefined ? {} : { stdin }),
  });
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.json;
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 3000 });
  for (const factory of ['factory-a', 'factory-b', 'factory-c'])
    await cp.adminOk(['factory', 'create', factory]);
  const key = (await cp.createIr('shared-ui-ir', ['--factory', 'factory-a'])).key1;
  web = await startWebHost({ OPENIR_FQDN: 'shared-node.openir.test' });
  const dataRoot = fs.realpathSync(tempDir('openir-share-ui-'));
  await cli(['config', 'allow-folder', dataRoot]);
  await cli([
    'credential',
    'set',
    'files',
    '--type',
    'localFolder',
    '--root',
    dataRoot,
    '--allow-factory',
    'factory-b',
  ]);
  await cli(['register', '--key-stdin'], key);
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(web.url);
});

test.afterAll(async () => {
  await page?.close();
  await web?.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('Home shows who the IR is shared with, and follows a new grant and a revoke', async () => {
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 30_000 });
  await expect(page.getByTestId('shared-with')).toHaveCount(0);
  await cp.adminOk(['ir', 'share', 'shared-ui-ir', '--with', 'factory-b']);
  await cp.adminOk(['ir', 'share', 'shared-ui-ir', '--with', 'factory-c']);
  const shared = page.getByTestId('shared-with');
  await expect(shared).toHaveText('factory-b, factory-c', { timeout: 15_000 });
  const card = page.getByRole('region', { name: 'Integration runtime', exact: true });
  await expect(card).toContainText('Shared with');
  await shootBoth(page, 'home-shared-with');
  await cp.adminOk(['ir', 'unshare', 'shared-ui-ir', '--with', 'factory-c']);
  await expect(shared).toHaveText('factory-b', { timeout: 15_000 });
});

test('the credential dialog shows and saves the factories allowed to use a credential', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  const credentials = page.getByRole('region', { name: 'Data store credentials', exact: true });
  const row = credentials.getByRole('listitem').filter({ hasText: 'files' });
  await expect(row).toContainText('factory-b');
  await row.getByRole('button', { name: 'Edit files' }).click();
  const dialog = page.getByRole('dialog', { name: 'Data store credential' });
  const allowed = dialog.getByLabel('Other data factories allowed (optional)');
  await expect(allowed).toHaveValue('factory-b');
  await allowed.fill('factory-b, factory-c');
  // The field and its hint in view (the dialog scrolls): the picture shows the rule it explains.
  await dialog.getByText(/fails with CREDENTIAL_NOT_SHARED/).scrollIntoViewIfNeeded();
  await shootBoth(page, 'credential-dialog-allowed-factories');
  await allowed.fill('factory b');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toContainText('separated by commas');
  await allowed.fill('factory-b, factory-c');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toHaveCount(0);
  const list = (await cli(['credential', 'list'])) as {
    credentials: { name: string; allowFactories: string[] }[];
  };
  expect(list.credentials.find((c) => c.name === 'files')?.allowFactories).toEqual([
    'factory-b',
    'factory-c',
  ]);
  await expect(row).toContainText('factory-b, factory-c');
});
