/// <reference lib="dom" />
import fs from 'node:fs';
import path from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { freePort, runCli } from '../test/helpers/node';
import { opensslAvailable, selfSignedByOpenssl, toPfx } from '../test/helpers/openssl';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { SCREENSHOTS } from './screenshots';

/**
 * Every Settings card and every dialog, opened the way a user opens them, against a real `openir serve`
 * and a real control plane: each is checked for what it must show and where focus goes, and pictured
 * alone in light mode at 1280×800 (`settings/<name>.png`, or `$OPENIR_SHOTS_DIR/<name>.png`) so a change
 * of structure can be compared picture by picture with the code before it.
 */

test.describe.configure({ mode: 'serial' });
test.skip(!opensslAvailable, 'openssl is needed for the certificate fixtures');

const FQDN = 'shots-node.openir.test';
const SHOTS = process.env.OPENIR_SHOTS_DIR ?? path.join(SCREENSHOTS, 'settings');
const BACKUP_PASSWORD = 'shots backup password';
const PFX_PASSWORD = 'pfx password';

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let key = '';
let dataRoot = '';
let backupFile = '';
let pfxFile = '';

const card = (name: string) => page.getByRole('region', { name, exact: true });
const dialog = (name: string) => page.getByRole('dialog', { name });
const confirm = (name: string) => page.getByRole('alertdialog', { name });

/** One picture of one element, light mode, animations stopped. */
async function shot(name: string, target: Locator): Promise<void> {
  await target.scrollIntoViewIfNeeded();
  await target.screenshot({ path: path.join(SHOTS, `${name}.png`), animations: 'disabled' });
}

test.beforeAll(async ({ browser }) => {
  fs.mkdirSync(SHOTS, { recursive: true });
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  key = (await cp.createIr('shots-ir')).key1;
  web = await startWebHost({
    OPENIR_FQDN: FQDN,
    OPENIR_VAULT: 'file',
    OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1',
    OPENIR_ADVERTISE_HOST: '127.0.0.1',
  });
  dataRoot = fs.realpathSync(tempDir('openir-shots-data-'));
  const fixtures = tempDir('openir-shots-certs-');
  pfxFile = toPfx(selfSignedByOpenssl(fixtures, FQDN, `DNS:${FQDN}`), PFX_PASSWORD);
  page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('Register: the form, remote access with its certificate picker, and the proxy dialog from there', async () => {
  const form = page.getByRole('region', { name: 'Register this node' });
  await expect(page.getByLabel('Authentication key', { exact: true })).toBeVisible();
  await shot('register', form);

  await page.getByLabel('Enable remote access from intranet').check();
  const modes = page.getByRole('radiogroup', { name: 'Remote access setting' });
  await expect(modes.getByRole('radio', { name: 'Enabled with TLS/SSL certificate' })).toBeChecked();
  await expect(page.getByRole('radiogroup', { name: 'Certificate' })).toContainText('store is empty');
  await shot('register-remote-access', form);

  const opener = page.getByRole('button', { name: 'Change proxy' });
  await opener.click();
  const proxy = dialog('HTTP proxy');
  await expect(proxy).toBeVisible();
  await expect(proxy).toContainText('Paste the authentication key first');
  await shot('proxy-dialog-register', proxy);
  await proxy.getByRole('button', { name: 'Cancel' }).click();
  await expect(proxy).toHaveCount(0);
  await expect(opener).toBeFocused();
  await page.getByLabel('Enable remote access from intranet').uncheck();
});

test('registered from the CLI with folders, credentials and a certificate, the page follows', async () => {
  const registered = await runCli(['register', '--key-stdin', '--node-name', 'shots-node', '--json'], {
    env: web.env,
    stdin: key,
  });
  expect(registered.code, registered.stderr).toBe(0);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  for (const args of [
    ['config', 'allow-folder', dataRoot],
    ['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot],
    ['credential', 'set', 'web', '--type', 'http', '--base-url', 'https://data.example/api/'],
    [
      'credential',
      'set',
      'sales-db',
      '--type',
      'postgresql',
      '--host',
      'db.corp.example',
      '--database',
      'sales',
      '--user',
      'reader',
    ],
    ['cert', 'create-self-signed'],
  ]) {
    const result = await runCli([...args, '--json'], { env: web.env });
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  }
  backupFile = path.join(tempDir('openir-shots-backup-'), 'shots.openir-backup');
  const backup = await runCli(['backup', '--out', backupFile, '--password-stdin', '--json'], {
    env: web.env,
    stdin: BACKUP_PASSWORD,
  });
  expect(backup.code, backup.stderr).toBe(0);
  await page.reload();
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(card('Certificates').getByRole('listitem')).toHaveCount(1);
  await expect(card('Data store credentials').getByRole('listitem')).toHaveCount(3);
  await expect(card('Jobs').getByRole('listitem')).toHaveCount(1);
});

test('every Settings card', async () => {
  await expect(card('This node')).toContainText('shots-node');
  await expect(card('HTTP proxy')).toContainText('Do not use proxy');
  await expect(card('Remote access from intranet')).toContainText('Disabled');
  await expect(card('Runtime host service')).toContainText('running');
  await expect(card('Logging').getByLabel('Log level')).toHaveValue('info');
  const cards: Array<[string, string]> = [
    ['card-node', 'This node'],
    ['card-proxy', 'HTTP proxy'],
    ['card-remote-access', 'Remote access from intranet'],
    ['card-service', 'Runtime host service'],
    ['card-secret-store', 'Secret store'],
    ['card-logging', 'Logging'],
    ['card-jobs', 'Jobs'],
    ['card-credentials', 'Data store credentials'],
    ['card-certificates', 'Certificates'],
    ['card-backup', 'Backup and restore'],
  ];
  for (const [name, title] of cards) await shot(name, card(title));
});

test('the proxy dialog: custom proxy, a failed test, the restart confirmation', async () => {
  const opener = card('HTTP proxy').getByRole('button', { name: 'Change proxy' });
  await opener.click();
  const proxy = dialog('HTTP proxy');
  await expect(proxy.getByLabel('Do not use proxy')).toBeChecked();
  await expect(proxy.getByLabel('Do not use proxy')).toBeFocused();
  await shot('proxy-dialog', proxy);

  await proxy.getByLabel('Use custom proxy').check();
  await proxy.getByRole('button', { name: 'Test' }).click();
  await expect(proxy.getByText('Problem:').first()).toBeVisible();
  await shot('proxy-dialog-problems', proxy);

  await proxy.getByLabel('Proxy address').fill('127.0.0.1');
  await proxy.getByLabel('Port', { exact: true }).fill(String(await freePort()));
  await proxy.getByLabel('User name (optional)').fill('shots');
  await proxy.getByRole('button', { name: 'Test' }).click();
  await expect(proxy.getByRole('alert').first()).toContainText('Test failed', { timeout: 15_000 });
  await expect(proxy.getByRole('list', { name: /Test steps/ })).toBeVisible();
  await shot('proxy-dialog-test-failed', proxy);

  await proxy.getByRole('button', { name: 'Save & restart' }).click();
  const restart = confirm('Save and restart the host service?');
  await expect(restart.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await shot('proxy-confirm-restart', restart);
  await restart.getByRole('button', { name: 'Cancel' }).click();
  await expect(restart).toHaveCount(0);
  await proxy.getByRole('button', { name: 'Cancel' }).click();
  await expect(proxy).toHaveCount(0);
  await expect(opener).toBeFocused();
});

test('the remote access dialog: its three settings and the certificate picker', async () => {
  const opener = card('Remote access from intranet').getByRole('button', { name: 'Change remote access' });
  await opener.click();
  const remote = dialog('Remote access from intranet');
  await expect(remote.getByLabel('Disabled')).toBeChecked();
  await shot('remote-access-dialog', remote);

  await remote.getByLabel('Enabled without TLS').check();
  await expect(remote).toContainText('Not recommended');
  await shot('remote-access-plain', remote);

  await remote.getByLabel('Enabled with TLS/SSL certificate').check();
  const picker = remote.getByRole('radiogroup', { name: 'Certificate' });
  await expect(picker.getByRole('radio')).toHaveCount(1);
  await expect(picker.getByRole('radio')).toBeChecked();
  await expect(remote).toContainText('Other nodes must trust this certificate (UNTRUSTED)');
  await shot('remote-access-tls', remote);

  await remote.getByRole('button', { name: 'Import…' }).click();
  await expect(remote.getByRole('group', { name: 'Import certificate' })).toBeVisible();
  await shot('remote-access-import', remote);
  await remote.getByRole('button', { name: 'Generate self-signed' }).click();
  await expect(remote.getByLabel('DNS names')).toHaveValue(FQDN);
  await shot('remote-access-generate', remote);

  await remote
    .getByRole('group', { name: 'Generate a self-signed certificate' })
    .getByRole('button', { name: 'Cancel' })
    .click();
  await remote.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(remote).toHaveCount(0);
  await expect(opener).toBeFocused();
});

test('the certificates card: import with a password, generate, remove confirmation', async () => {
  const certs = card('Certificates');
  await certs.getByRole('button', { name: 'Import certificate' }).click();
  const importForm = certs.getByRole('group', { name: 'Import certificate' });
  await shot('certificates-import', certs);
  await importForm.getByLabel('Certificate file').setInputFiles(pfxFile);
  await importForm.getByLabel('Password (PFX or encrypted key)').fill(PFX_PASSWORD);
  await importForm.getByRole('button', { name: 'Check certificate' }).click();
  await expect(importForm.getByRole('region', { name: 'Checked certificate' })).toContainText(FQDN, {
    timeout: 15_000,
  });
  await expect(importForm.getByRole('button', { name: 'Import', exact: true })).toBeVisible();
  await shot('certificates-import-checked', certs);
  await importForm.getByRole('button', { name: 'Cancel' }).click();

  await certs.getByRole('button', { name: 'Generate self-signed' }).click();
  await expect(certs.getByLabel('DNS names')).toHaveValue(FQDN);
  await shot('certificates-generate', certs);
  await certs
    .getByRole('group', { name: 'Generate a self-signed certificate' })
    .getByRole('button', {
      name: 'Cancel',
    })
    .click();

  const remove = certs.getByRole('button', { name: /^Remove / });
  await remove.click();
  const removing = confirm('Remove this certificate?');
  await expect(removing).toContainText('cannot be undone');
  await shot('certificate-remove-confirm', removing);
  await removing.getByRole('button', { name: 'Cancel' }).click();
  await expect(removing).toHaveCount(0);
  await expect(remove).toBeFocused();
});

test('the credential dialog: each type, problems, editing, delete confirmation', async () => {
  const credentials = card('Data store credentials');
  const opener = credentials.getByRole('button', { name: 'Add credential' });
  await opener.click();
  const edit = dialog('Data store credential');
  await expect(edit.getByLabel('Local folder', { exact: true })).toBeFocused();
  await shot('credential-dialog', edit);
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(edit.getByText('Problem:').first()).toBeVisible();
  await shot('credential-dialog-problems', edit);

  await edit.getByLabel('HTTP(S) endpoint', { exact: true }).check();
  await edit.getByRole('button', { name: 'Add header' }).click();
  await shot('credential-dialog-http', edit);
  await edit.getByLabel('PostgreSQL', { exact: true }).check();
  await shot('credential-dialog-postgresql', edit);
  await edit.getByLabel('MySQL / MariaDB', { exact: true }).check();
  // The port follows the type's default; the password starts empty and is never read back.
  await expect(edit.getByLabel('Port', { exact: true })).toHaveValue('3306');
  await expect(edit.getByLabel('Password', { exact: true })).toHaveValue('');
  await expect(edit.getByLabel('Require TLS to the server')).toBeChecked();
  await edit.getByLabel('Server', { exact: true }).fill('mysql.corp.example');
  await edit.getByLabel('Database', { exact: true }).fill('shop');
  await edit.getByLabel('User name', { exact: true }).fill('reader');
  await shot('credential-dialog-mysql', edit);
  await edit.getByLabel('SFTP server', { exact: true }).check();
  await expect(edit.getByLabel('Port', { exact: true })).toHaveValue('22');
  await edit.getByLabel('Server', { exact: true }).fill('files.corp.example');
  await edit.getByLabel('User name', { exact: true }).fill('exports');
  await edit.getByLabel('Folder on the server', { exact: true }).fill('/srv/exports');
  await edit
    .getByLabel('Host key fingerprint', { exact: true })
    .fill('SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8');
  await edit.getByLabel('Private key', { exact: true }).check();
  await expect(edit.getByText('--fetch-host-key')).toBeVisible();
  await shot('credential-dialog-sftp', edit);
  await edit.getByRole('button', { name: 'Cancel' }).click();
  await expect(edit).toHaveCount(0);
  await expect(opener).toBeFocused();

  const row = credentials.getByRole('listitem').filter({ hasText: 'sales-db' });
  await row.getByRole('button', { name: 'Edit sales-db' }).click();
  await expect(edit.getByLabel('Name', { exact: true })).toBeDisabled();
  await expect(edit.getByLabel('Server', { exact: true })).toHaveValue('db.corp.example');
  await shot('credential-dialog-edit', edit);
  await edit.getByRole('button', { name: 'Cancel' }).click();

  const remove = row.getByRole('button', { name: 'Delete sales-db' });
  await remove.click();
  const deleting = confirm('Delete this credential?');
  await expect(deleting).toContainText('sales-db');
  await shot('credential-delete-confirm', deleting);
  await deleting.getByRole('button', { name: 'Cancel' }).click();
  await expect(deleting).toHaveCount(0);
  await expect(remove).toBeFocused();
});

test('the jobs card: a limit out of range', async () => {
  const jobs = card('Jobs');
  await jobs.getByLabel('Concurrent jobs limit', { exact: true }).fill('0');
  await jobs.getByRole('button', { name: 'Save concurrent jobs limit' }).click();
  await expect(jobs.getByText('Problem:')).toBeVisible();
  await shot('card-jobs-problem', jobs);
  await jobs.getByLabel('Concurrent jobs limit', { exact: true }).fill('');
});

test('backup and restore: a short password, a chosen backup file, the unregister confirmation', async () => {
  const backup = card('Backup and restore');
  await backup.getByLabel('Backup password', { exact: true }).first().fill('short');
  await backup.getByLabel('Confirm password').fill('short');
  await backup.getByRole('button', { name: 'Back up' }).click();
  await expect(backup.getByRole('alert').first()).toContainText('at least 12 characters');

  await backup.getByLabel('Backup file').setInputFiles(backupFile);
  await expect(backup).toContainText('Node shots-node in shots-ir, backed up');
  await backup.getByLabel('Backup password', { exact: true }).nth(1).fill('not the password');
  await shot('backup-forms', backup);

  const opener = backup.getByRole('button', { name: 'Unregister…' });
  await opener.click();
  const unregister = confirm('Unregister this node?');
  await expect(unregister.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await shot('unregister-confirm', unregister);
  await unregister.getByRole('button', { name: 'Cancel' }).click();
  await expect(unregister).toHaveCount(0);
  await expect(opener).toBeFocused();
});

test('the service card while stopped', async () => {
  const service = card('Runtime host service');
  await service.getByRole('button', { name: 'Stop service', exact: true }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Stopped', { timeout: 10_000 });
  await shot('card-service-stopped', service);
  await shot('card-remote-access-stopped', card('Remote access from intranet'));
  await service.getByRole('button', { name: 'Start service', exact: true }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});
