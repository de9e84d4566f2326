/// <reference lib="dom" />
import fs from 'node:fs';
import path from 'node:path';
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
 * Settings → Backup and restore against a real `openir serve` and a real control plane: Back up
 * downloads an encrypted file, the Unregister dialog offers a backup first and, once confirmed, the
 * control plane forgets the node and the page lands on Register.
 */

test.describe.configure({ mode: 'serial' });

const PASSWORD = 'ui backup password';

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let nodeId = '';
let saved = '';
let key1 = '';

const backupCard = () => page.getByRole('region', { name: 'Backup and restore' });
const unregisterDialog = () => page.getByRole('alertdialog', { name: 'Unregister this node?' });

const shoot = (name: string) => shootBoth(page, name);

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  key1 = (await cp.createIr('backup-ui-ir')).key1;
  web = await startWebHost({ OPENIR_VAULT: 'file' });
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key1 });
  expect(registered.code, registered.stderr).toBe(0);
  nodeId = (registered.json as { node: { id: string } }).node.id;
  // A data store credential for the backup to carry.
  const folder = fs.realpathSync(tempDir('openir-ui-backup-data-'));
  for (const args of [
    ['config', 'allow-folder', folder],
    ['credential', 'set', 'files', '--type', 'localFolder', '--root', folder],
  ]) {
    const result = await runCli([...args, '--json'], { env: web.env });
    expect(result.code, result.stderr).toBe(0);
  }
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

test('Settings shows the Backup and restore card', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(backupCard()).toBeVisible();
  await expect(backupCard().getByRole('button', { name: 'Back up' })).toBeVisible();
  await expect(backupCard().getByRole('button', { name: 'Restore' })).toBeVisible();
  await expect(backupCard().getByRole('button', { name: 'Unregister…' })).toBeVisible();
  await expect(
    backupCard().getByLabel("Replace this node's registration, settings and secrets"),
  ).toBeVisible();
});

test('Back up with a password downloads an encrypted backup file', async () => {
  const card = backupCard();
  await card.getByLabel('Backup password', { exact: true }).first().fill('short');
  await card.getByLabel('Confirm password').fill('short');
  await card.getByRole('button', { name: 'Back up' }).click();
  await expect(card.getByRole('alert').first()).toContainText('at least 12 characters');

  await card.getByLabel('Backup password', { exact: true }).first().fill(PASSWORD);
  await card.getByLabel('Confirm password').fill(PASSWORD);
  const downloading = page.waitForEvent('download');
  await card.getByRole('button', { name: 'Back up' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^openir-web-node-\d{4}-\d{2}-\d{2}\.openir-backup$/);
  saved = path.join(tempDir('openir-ui-backup-'), download.suggestedFilename());
  await download.saveAs(saved);
  const bytes = fs.readFileSync(saved);
  expect(bytes.subarray(0, 8).toString()).toBe('OPENIRBK');
  expect(bytes.includes(Buffer.from(PASSWORD))).toBe(false);
  await expect(card.getByRole('status').first()).toContainText('Saved openir-web-node-');
  // The password fields are emptied once the file is saved.
  await expect(card.getByLabel('Backup password', { exact: true }).first()).toHaveValue('');

  // The CLI reads the same file: it is of this node.
  const inspected = await runCli(['backup', 'inspect', '--file', saved, '--json'], { env: web.env });
  expect(inspected.json).toMatchObject({
    node: { id: nodeId, name: 'web-node' },
    ir: { name: 'backup-ui-ir' },
  });
  await card.scrollIntoViewIfNeeded();
  await shoot('settings-backup');
});

test('Restore shows whose backup it is, refuses a wrong password, then restores over this node', async () => {
  const card = backupCard();
  // Deleted after the backup: the restore brings it back into the open page.
  const credentials = page.getByRole('region', { name: 'Data store credentials' });
  await expect(credentials.getByRole('listitem').filter({ hasText: 'files' })).toHaveCount(1);
  expect((await runCli(['credential', 'delete', 'files', '--json'], { env: web.env })).code).toBe(0);
  await expect(credentials.getByRole('listitem').filter({ hasText: 'files' })).toHaveCount(0);
  await card.getByLabel('Backup file').setInputFiles(saved);
  await expect(card).toContainText('Node web-node in backup-ui-ir, backed up');
  await card.getByLabel('Backup password', { exact: true }).nth(1).fill('not the password');
  await card.getByLabel("Replace this node's registration, settings and secrets").check();
  await card.getByRole('button', { name: 'Restore' }).click();
  const restoreForm = card.getByRole('form', { name: 'Restore' });
  await expect(restoreForm.getByRole('alert')).toContainText('The password of this backup is wrong.');
  await expect(restoreForm.getByRole('alert')).toContainText('BACKUP_WRONG_PASSWORD');
  await card.scrollIntoViewIfNeeded();
  await shoot('settings-restore-wrong-password');

  await card.getByLabel('Backup password', { exact: true }).nth(1).fill(PASSWORD);
  await card.getByRole('button', { name: 'Restore' }).click();
  await expect(restoreForm.getByRole('status')).toContainText('Restored node "web-node"', {
    timeout: 15_000,
  });
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  const status = (await runCli(['status', '--json'], { env: web.env })).json as { node: { id: string } };
  expect(status.node.id).toBe(nodeId);
  await expect(credentials.getByRole('listitem').filter({ hasText: 'files' })).toHaveCount(1);
});

test('Unregister asks for confirmation, offers a backup first, then lands on Register', async () => {
  await backupCard().getByRole('button', { name: 'Unregister…' }).click();
  const dialog = unregisterDialog();
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('back up first');
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await shoot('settings-unregister-dialog');

  // "Back up first" closes the dialog and takes the user to the backup password.
  await dialog.getByRole('button', { name: 'Back up first' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(backupCard().getByLabel('Backup password', { exact: true }).first()).toBeFocused();
  await expect(backupCard()).toContainText('Back up first:');

  await backupCard().getByRole('button', { name: 'Unregister…' }).click();
  await unregisterDialog().getByRole('button', { name: 'Unregister', exact: true }).click();
  await expect(page.getByRole('tab', { name: 'Register' })).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration', { timeout: 15_000 });
  const nodes = await cp.admin(['ir', 'nodes', 'backup-ui-ir']);
  expect((nodes.json as { nodes: unknown[] }).nodes).toEqual([]);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shoot('register-after-unregister');
});

test('A node removed on the control plane says so, and Unregister clears it for a new registration', async () => {
  const registered = await runCli(['register', '--key-stdin'], { env: web.env, stdin: key1 });
  expect(registered.code, registered.stderr).toBe(0);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  expect((await cp.admin(['ir', 'remove-node', 'backup-ui-ir', 'web-node'])).code).toBe(0);
  await page.getByRole('tab', { name: 'Home' }).click();
  await expect(
    page.getByText(/web-node" was removed from the integration runtime "backup-ui-ir"/).first(),
  ).toBeVisible({
    timeout: 15_000,
  });
  await page.evaluate(() => window.scrollTo(0, 0));
  await shoot('home-node-removed');
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(backupCard()).toContainText('The control plane removed this node.');
  await backupCard().getByRole('button', { name: 'Unregister…' }).click();
  await unregisterDialog().getByRole('button', { name: 'Unregister', exact: true }).click();
  await expect(page.getByRole('tab', { name: 'Register' })).toBeVisible({ timeout: 15_000 });
});

test('With the control plane down, Unregister explains and offers to clean this machine only', async () => {
  const registered = await runCli(['register', '--key-stdin'], { env: web.env, stdin: key1 });
  expect(registered.code, registered.stderr).toBe(0);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  await cp.stop();
  await page.getByRole('tab', { name: 'Settings' }).click();
  await backupCard().getByRole('button', { name: 'Unregister…' }).click();
  const dialog = unregisterDialog();
  await dialog.getByRole('button', { name: 'Unregister', exact: true }).click();
  await expect(dialog.getByRole('alert')).toContainText('could not be removed from its control plane');
  const force = dialog.getByLabel('Clean this machine only; the control plane keeps listing the node');
  await expect(force).toBeVisible();
  await expect(dialog).toContainText('openir-control-plane ir remove-node backup-ui-ir web-node');
  await expect(dialog.getByRole('button', { name: 'Unregister', exact: true })).toBeDisabled();
  await shoot('settings-unregister-unreachable');
  await force.check();
  await dialog.getByRole('button', { name: 'Unregister anyway' }).click();
  await expect(page.getByRole('tab', { name: 'Register' })).toBeVisible({ timeout: 15_000 });
});
