/// <reference lib="dom" />
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { startDataServer } from '../test/helpers/dataServer';
import { runCli } from '../test/helpers/node';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';
import type { JobView as JobJson } from '../src/control-plane/jobStore';

/**
 * Jobs in the Configuration Manager, against a real `openir serve` and a real control plane: Settings
 * allows a folder and adds data store credentials (one with a bearer token that must never reach the
 * page), the control plane's admin CLI submits jobs, and Home's Recent jobs follows them as the host
 * pushes them (Running with live progress, then Succeeded), without polling.
 */

test.describe.configure({ mode: 'serial' });

const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const BIG_BYTES = 20 * 1024 * 1024;
const SLOW_BYTES = 4 * 1024 * 1024;
/** Served by `flaky/drop-once/…`: the connection drops halfway through the first answer. */
const FLAKY_BYTES = 8 * 1024 * 1024;

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let dataRoot = '';
let dataServer: http.Server;
let webUrl = '';

const shoot = (name: string, fullPage = false) => shootBoth(page, name, fullPage);

const jobsCard = () => page.getByRole('region', { name: 'Jobs', exact: true });
const credentialsCard = () => page.getByRole('region', { name: 'Data store credentials' });
const credentialDialog = () => page.getByRole('dialog', { name: 'Data store credential' });
const recentJobs = () => page.getByRole('table', { name: 'Recent jobs' });
const jobRow = (id: string): Locator => recentJobs().locator(`tr[data-job-id="${id}"]`);

async function submit(source: string): Promise<JobJson> {
  const result = await cp.admin<JobJson>([
    'job',
    'submit',
    '--ir',
    'jobs-ui-ir',
    '--source',
    source,
    '--sink',
    'staging',
  ]);
  expect(result.code, result.stderr).toBe(0);
  return result.json;
}

test.beforeAll(async ({ browser }) => {
  dataRoot = fs.realpathSync(tempDir('openir-ui-data-'));
  dataServer = startDataServer({
    token: TOKEN,
    slowData: randomBytes(SLOW_BYTES),
    flaky: randomBytes(FLAKY_BYTES),
  }).server;
  await new Promise<void>((resolve) => dataServer.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(dataServer.address() as AddressInfo).port}/`;
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  const key = (await cp.createIr('jobs-ui-ir')).key1;
  web = await startWebHost();
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code, registered.stderr).toBe(0);
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

test('Home shows an empty Recent jobs table and running/limit', async () => {
  await expect(recentJobs()).toContainText('No jobs have run on this node');
  await expect(page.getByTestId('jobs-running')).toContainText(/^0 running of \d+/);
});

test('Settings → Jobs: set the concurrent jobs limit and allow a folder', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  const limit = jobsCard().getByLabel('Concurrent jobs limit', { exact: true });
  await expect(limit).not.toHaveValue('');
  await expect(jobsCard()).toContainText('the default for this machine');
  await expect(jobsCard()).toContainText('No folder is allowed');

  await limit.fill('0');
  await jobsCard().getByRole('button', { name: 'Save concurrent jobs limit' }).click();
  await expect(jobsCard()).toContainText('Enter a number from 1 to 256.');
  await limit.fill('3');
  await jobsCard().getByRole('button', { name: 'Save concurrent jobs limit' }).click();
  await expect(jobsCard()).toContainText('Concurrent jobs limit set to 3.');
  await expect(jobsCard()).toContainText(/In force: 3 \(set here; the default for this machine is \d+\)/);
  await expect(jobsCard().getByRole('button', { name: /^Use default/ })).toBeVisible();
  const status = (await runCli(['status', '--json'], { env: web.env })).json as {
    jobs: { limit: number };
  };
  expect(status.jobs.limit).toBe(3);

  // A path that is not a folder is refused with the host's reason.
  await jobsCard().getByLabel('Folder to allow', { exact: true }).fill(path.join(dataRoot, 'missing'));
  await jobsCard().getByRole('button', { name: 'Allow folder' }).click();
  await expect(jobsCard().getByRole('alert')).toContainText('There is no folder');

  await jobsCard().getByLabel('Folder to allow', { exact: true }).fill(dataRoot);
  await jobsCard().getByRole('button', { name: 'Allow folder' }).click();
  const folders = jobsCard().getByRole('list', { name: 'Local folder path validation' });
  await expect(folders.getByRole('listitem')).toHaveCount(1);
  await expect(folders).toContainText(dataRoot);
  await expect(jobsCard().getByRole('button', { name: `Remove ${dataRoot}` })).toBeVisible();
  await jobsCard().scrollIntoViewIfNeeded();
  await shoot('settings-jobs');
});

test('Settings → Data store credentials: add a local folder credential in the dialog', async () => {
  await expect(credentialsCard()).toContainText('No data store credentials on this node yet');
  await credentialsCard().getByRole('button', { name: 'Add credential' }).click();
  await expect(credentialDialog()).toBeVisible();
  await expect(credentialDialog().getByLabel('Local folder', { exact: true })).toBeChecked();
  await expect(credentialDialog().getByLabel('Local folder', { exact: true })).toBeFocused();

  // Checked before sending: the name and an absolute root.
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toContainText('The credential name is empty.');
  await credentialDialog().getByLabel('Name', { exact: true }).fill('files');
  await credentialDialog().getByLabel('Root folder', { exact: true }).fill('relative/path');
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toContainText('The folder must be an absolute path');
  await credentialDialog().getByLabel('Root folder', { exact: true }).fill(dataRoot);
  await shoot('credential-dialog');

  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toBeHidden();
  await expect(credentialsCard()).toContainText('Saved the credential files.');
  const row = credentialsCard().getByRole('listitem').filter({ hasText: 'files' });
  await expect(row).toContainText('Local folder');
  await expect(row).toContainText(dataRoot);
});

test('an HTTP credential: the bearer token is saved, never shown, and never prefilled on edit', async () => {
  await credentialsCard().getByRole('button', { name: 'Add credential' }).click();
  await credentialDialog().getByLabel('HTTP(S) endpoint', { exact: true }).check();
  await credentialDialog().getByLabel('Name', { exact: true }).fill('web');
  await credentialDialog().getByLabel('Base URL', { exact: true }).fill(webUrl);
  const token = credentialDialog().getByLabel('Bearer token (optional)', { exact: true });
  await expect(token).toHaveAttribute('type', 'password');
  await token.fill(TOKEN);
  await shoot('credential-dialog-http');
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toBeHidden();
  const row = credentialsCard().getByRole('listitem').filter({ hasText: 'web' });
  await expect(row).toContainText('HTTP(S) endpoint');
  await expect(row).toContainText('bearer token saved');

  await row.getByRole('button', { name: 'Edit web' }).click();
  await expect(credentialDialog().getByLabel('Name', { exact: true })).toHaveValue('web');
  await expect(credentialDialog().getByLabel('Name', { exact: true })).toBeDisabled();
  await expect(credentialDialog().getByLabel('Base URL', { exact: true })).toHaveValue(webUrl);
  await expect(credentialDialog().getByLabel('Bearer token (optional)', { exact: true })).toHaveValue('');
  await expect(credentialDialog()).toContainText('A token is saved. Leave this empty to keep it');
  await page.keyboard.press('Escape');
  await expect(credentialDialog()).toBeHidden();

  expect(await page.content()).not.toContain(TOKEN);
  const listed = await runCli(['credential', 'list', '--json'], { env: web.env });
  expect(listed.stdout).not.toContain(TOKEN);
  expect(listed.stdout).toContain('"web"');
  await credentialsCard().scrollIntoViewIfNeeded();
  await shoot('settings-credentials');
});

test('an Azure Blob credential: account URL, container, how it signs in; the secret never comes back', async () => {
  const sas = `sv=2024-08-04&se=2099-01-01T00%3A00%3A00Z&sr=c&sp=cw&sig=${randomBytes(12).toString('hex')}`;
  await credentialsCard().getByRole('button', { name: 'Add credential' }).click();
  await credentialDialog().getByLabel('Azure Blob Storage', { exact: true }).check();
  await credentialDialog().getByLabel('Name', { exact: true }).fill('lake');
  await credentialDialog()
    .getByLabel('Account URL', { exact: true })
    .fill('https://lakeacct.blob.core.windows.net');
  await credentialDialog().getByLabel('Container', { exact: true }).fill('Exports_2026');
  await expect(credentialDialog().getByLabel('Account key', { exact: true })).toBeChecked();
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toContainText('A container name has 3 to 63 lowercase letters');
  await expect(credentialDialog()).toContainText('Enter the account key.');
  await credentialDialog().getByLabel('Container', { exact: true }).fill('exports');
  await credentialDialog().getByLabel('SAS token', { exact: true }).check();
  const secret = credentialDialog().getByLabel('SAS token (secret)', { exact: true });
  await expect(secret).toHaveAttribute('type', 'password');
  await secret.fill(sas);
  await shoot('credential-dialog-azure-blob');
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toBeHidden();
  const row = credentialsCard().getByRole('listitem').filter({ hasText: 'lake' });
  await expect(row).toContainText('Azure Blob Storage');
  await expect(row).toContainText('https://lakeacct.blob.core.windows.net');
  await expect(row).toContainText('SAS token saved');
  await row.scrollIntoViewIfNeeded();
  await shoot('settings-credentials-azure-blob');

  await row.getByRole('button', { name: 'Edit lake' }).click();
  await expect(credentialDialog().getByLabel('Container', { exact: true })).toHaveValue('exports');
  await expect(credentialDialog().getByLabel('SAS token', { exact: true })).toBeChecked();
  await expect(credentialDialog().getByLabel('SAS token (secret, optional)', { exact: true })).toHaveValue(
    '',
  );
  await credentialDialog()
    .getByLabel('SAS token (secret, optional)', { exact: true })
    .scrollIntoViewIfNeeded();
  await shoot('credential-dialog-azure-blob-edit');
  await page.keyboard.press('Escape');
  await expect(credentialDialog()).toBeHidden();
  expect(await page.content()).not.toContain(sas);
  const listed = await runCli(['credential', 'list', '--json'], { env: web.env });
  expect(listed.stdout).not.toContain(sas);
  expect(listed.stdout).toMatch(/"auth":\s*"sas"/);
});

test('deleting a credential asks first', async () => {
  await credentialsCard().getByRole('button', { name: 'Add credential' }).click();
  await credentialDialog().getByLabel('PostgreSQL', { exact: true }).check();
  await credentialDialog().getByLabel('Name', { exact: true }).fill('scratch');
  await credentialDialog().getByLabel('Server', { exact: true }).fill('db.openir.test');
  await credentialDialog().getByLabel('Database', { exact: true }).fill('sales');
  await credentialDialog().getByLabel('User name', { exact: true }).fill('reader');
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  await expect(credentialDialog()).toContainText('Enter the password of this user.');
  await credentialDialog().getByLabel('Password', { exact: true }).fill('pg-secret-not-shown');
  await credentialDialog().getByRole('button', { name: 'Save' }).click();
  const row = credentialsCard().getByRole('listitem').filter({ hasText: 'scratch' });
  await expect(row).toContainText('password saved');
  await expect(row).toContainText('db.openir.test:5432');

  await row.getByRole('button', { name: 'Delete scratch' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete this credential?' });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toBeVisible();
  await row.getByRole('button', { name: 'Delete scratch' }).click();
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(credentialsCard()).toContainText('Deleted the credential scratch');
  await expect(row).toHaveCount(0);
  expect(await page.content()).not.toContain('pg-secret-not-shown');
});

test('a 20 MB file copied to staging shows Running, then Succeeded, pushed to Home', async () => {
  fs.writeFileSync(path.join(dataRoot, 'big.bin'), randomBytes(BIG_BYTES));
  await page.getByRole('tab', { name: 'Home' }).click();
  await expect(recentJobs()).toBeVisible();
  // Every state each job row shows, recorded in the page: the copy may take less time than a look.
  await page.evaluate(() => {
    const seen: Record<string, string[]> = {};
    (window as unknown as { jobStates: Record<string, string[]> }).jobStates = seen;
    const record = () => {
      for (const row of Array.from(document.querySelectorAll<HTMLElement>('tr[data-job-id]'))) {
        const id = row.dataset.jobId ?? '';
        const state = row.querySelector('.badge')?.textContent?.trim() ?? '';
        const states = (seen[id] ??= []);
        if (states[states.length - 1] !== state) states.push(state);
      }
    };
    new MutationObserver(record).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });

  const job = await submit('files:big.bin');
  await expect(jobRow(job.id)).toContainText('Succeeded', { timeout: 30_000 });
  await expect(jobRow(job.id)).toContainText('files:big.bin');
  await expect(jobRow(job.id)).toContainText('Control plane staging');
  await expect(jobRow(job.id)).toContainText('20 MB');
  const states = await page.evaluate(
    (id) => (window as unknown as { jobStates: Record<string, string[]> }).jobStates[id],
    job.id,
  );
  expect(states).toEqual(['Running', 'Succeeded']);
  const shown = (await cp.admin<JobJson>(['job', 'show', job.id])).json;
  expect(shown.state).toBe('Succeeded');
});

test('a slow HTTP copy shows live progress while Running, then Succeeded', async () => {
  const job = await submit(`web:slow/${SLOW_BYTES}`);
  const row = jobRow(job.id);
  await expect(row).toContainText('Running', { timeout: 10_000 });
  const bar = row.getByRole('progressbar', { name: `Progress of job ${job.id}` });
  await expect(bar).toBeVisible();
  await expect(page.getByTestId('jobs-running')).toContainText('1 running of 3');
  // The figures move while it runs: pushed by the host, at most twice a second.
  const first = await bar.getAttribute('aria-valuetext');
  await expect(bar).not.toHaveAttribute('aria-valuetext', first ?? '', { timeout: 5_000 });
  await recentJobs().scrollIntoViewIfNeeded();
  await shoot('home-jobs');
  await expect(row).toContainText('Succeeded', { timeout: 30_000 });
  await expect(row).toContainText('4.0 MB');
  await expect(bar).toHaveCount(0);
  await expect(page.getByTestId('jobs-running')).toContainText('0 running of 3');
  await shoot('home-jobs-done');
  expect(await page.content()).not.toContain(TOKEN);
});

test('a copy that lost its connection and resumed says so on Home', async () => {
  const job = await submit('web:flaky/drop-once/home.bin');
  const row = jobRow(job.id);
  await expect(row).toContainText('Succeeded', { timeout: 30_000 });
  await expect(row).toContainText('8.0 MB');
  const note = row.getByTestId('job-note');
  await expect(note).toHaveText(/^Resuming the copy at byte \d+ \(try 2 of 3\), after: .+\.$/);
  // The control plane has the same words, for `job show`.
  const shown = (await cp.admin<JobJson>(['job', 'show', job.id])).json;
  expect(shown.note).toBe(await note.textContent());
  await row.scrollIntoViewIfNeeded();
  await shoot('home-job-resumed');
});

test('readable at 200 % zoom (a 640 px wide viewport)', async () => {
  await page.setViewportSize({ width: 640, height: 400 });
  const overflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await recentJobs().scrollIntoViewIfNeeded();
  await shoot('home-jobs-zoom200');
  await page.getByRole('tab', { name: 'Settings' }).click();
  await jobsCard().scrollIntoViewIfNeeded();
  expect(await overflow()).toBeLessThanOrEqual(0);
  await shoot('settings-jobs-zoom200');
  await credentialsCard().getByRole('button', { name: 'Add credential' }).click();
  await credentialDialog().getByLabel('PostgreSQL', { exact: true }).check();
  await shoot('credential-dialog-zoom200');
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 800 });
});
