import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { freePort, runCli } from '../test/helpers/node';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { SCREENSHOTS, shootBoth } from './screenshots';

/**
 * The remote access dialog in a real browser against a real `openir serve`: a certificate for the wrong
 * name is refused with its problems before saving, a self-signed one for this node enables TLS, and a
 * real TLS client that trusts the PEM exported from the Certificates card gets the health endpoint.
 */
const FQDN = 'ra-node.openir.test';
const WRONG = 'elsewhere.openir.test';
const LOOPBACK_PEERS = { OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1', OPENIR_ADVERTISE_HOST: '127.0.0.1' };

test.describe.configure({ mode: 'serial' });

let cp: RunningControlPlane;
let web: WebHost;
let web2: WebHost | null = null;
let key = '';
let page: Page;
let port = 0;
let pem = '';

const shoot = (name: string, fullPage = false) => shootBoth(page, name, fullPage);

function health(url: string, ca: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: target.port,
        path: '/openir/v1/health',
        servername: FQDN,
        ca,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('health request timed out')));
    req.on('error', reject);
  });
}

const dialog = () => page.getByRole('dialog', { name: 'Remote access from intranet' });
const remoteCard = () => page.getByRole('region', { name: 'Remote access from intranet' });
const certCard = () => page.getByRole('region', { name: 'Certificates' });

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  // The second node's Register page is shown here, not join approval (e2e/ha.spec.ts): let nodes in.
  key = (await cp.createIr('ra-ui-ir', ['--join-approval', 'auto'])).key1;
  // The test FQDNs are not in DNS: each node tells its peers the loopback address instead.
  web = await startWebHost({ OPENIR_FQDN: FQDN, ...LOOPBACK_PEERS });
  const registered = await runCli(['register', '--key-stdin', '--json'], { env: web.env, stdin: key });
  expect(registered.code).toBe(0);
  port = await freePort();
  page = await browser.newPage({ acceptDownloads: true });
  await page.goto(web.url);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
});

test.afterAll(async () => {
  await page.close();
  await web2?.stop();
  await web.stop();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('Settings shows remote access Disabled and an empty certificate store', async () => {
  await page.getByRole('tab', { name: 'Settings' }).click();
  await expect(remoteCard()).toContainText('Disabled');
  await expect(remoteCard().getByRole('button', { name: 'Change remote access' })).toBeEnabled();
  await expect(certCard()).toContainText('No certificates in this node');
  await expect(certCard()).toContainText(FQDN);
});

test('a certificate for another name shows its problems in the dialog before saving', async () => {
  await page.getByRole('button', { name: 'Change remote access' }).click();
  await expect(dialog()).toBeVisible();
  await expect(dialog().getByLabel('Disabled')).toBeChecked();
  await dialog().getByLabel('Enabled without TLS').check();
  await expect(dialog()).toContainText('not recommended');
  await dialog().getByLabel('Enabled with TLS/SSL certificate').check();
  await expect(dialog().getByRole('textbox', { name: 'Port' })).toHaveValue('8060');
  const picker = dialog().getByRole('radiogroup', { name: 'Certificate' });
  await expect(picker).toContainText('store is empty');

  await dialog().getByRole('button', { name: 'Generate self-signed' }).click();
  await expect(dialog().getByLabel('DNS names')).toHaveValue(FQDN);
  await dialog().getByLabel('DNS names').fill(WRONG);
  await dialog().getByRole('button', { name: 'Generate certificate' }).click();

  await expect(picker.getByRole('radio', { name: new RegExp(WRONG.replace(/\./g, '\\.')) })).toBeChecked({
    timeout: 15_000,
  });
  await expect(dialog()).toContainText('This certificate cannot be used for remote access');
  await expect(dialog()).toContainText('FQDN_NOT_IN_SAN');
  await expect(dialog()).toContainText(`do not include this machine's FQDN (${FQDN})`);
  await expect(dialog()).toContainText('How to fix:');
  await shoot('remote-access-problems');

  // Save refuses it here, before the host is asked.
  await dialog().getByRole('button', { name: 'Save', exact: true }).click();
  await expect(dialog()).toBeVisible();
  await expect(dialog().getByText('does not meet the requirements below')).toBeVisible();
  expect(
    (
      (await runCli(['remote-access', 'show', '--json'], { env: web.env })).json as {
        settings: { mode: string };
      }
    ).settings.mode,
  ).toBe('disabled');
});

test('a self-signed certificate for this node: only UNTRUSTED warns, and Save enables TLS', async () => {
  await dialog().getByRole('button', { name: 'Generate self-signed' }).click();
  await expect(dialog().getByLabel('DNS names')).toHaveValue(FQDN);
  await dialog().getByRole('button', { name: 'Generate certificate' }).click();
  const picker = dialog().getByRole('radiogroup', { name: 'Certificate' });
  await expect(picker.getByRole('radio')).toHaveCount(2, { timeout: 15_000 });
  await expect(
    picker.getByRole('radio', { name: new RegExp(`^${FQDN.replace(/\./g, '\\.')}`) }),
  ).toBeChecked();
  await expect(dialog()).toContainText('This certificate meets the requirements for this node.');
  await expect(dialog()).toContainText('Other nodes must trust this certificate (UNTRUSTED)');
  await expect(dialog()).not.toContainText('This certificate cannot be used');

  await dialog().getByRole('textbox', { name: 'Port' }).fill(String(port));
  await dialog().getByRole('heading', { name: 'Requirement check' }).scrollIntoViewIfNeeded();
  await shoot('remote-access-dialog');
  await dialog().getByRole('button', { name: 'Save', exact: true }).click();
  await expect(dialog()).toHaveCount(0, { timeout: 15_000 });

  await expect(remoteCard()).toContainText('Enabled with TLS/SSL certificate');
  await expect(remoteCard()).toContainText(`CN=${FQDN}`);
  await expect(remoteCard().getByTestId('remote-access-url')).toHaveText(`https://127.0.0.1:${port}`);
  await expect(remoteCard()).toContainText('Listening');
});

test('Certificates lists both; Export PEM downloads the certificate a TLS client then trusts', async () => {
  const rows = certCard().getByRole('listitem');
  await expect(rows).toHaveCount(2);
  const good = rows.filter({ hasText: `CN=${FQDN}` });
  await expect(good).toContainText('used by remote access');
  await expect(good).toContainText('UNTRUSTED');
  await expect(rows.filter({ hasText: `CN=${WRONG}` })).toContainText('FQDN_NOT_IN_SAN');

  const download = page.waitForEvent('download');
  await good.getByRole('button', { name: `Export PEM ${FQDN}` }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/\.pem$/);
  pem = fs.readFileSync(await file.path(), 'utf8');
  expect(pem).toContain('-----BEGIN CERTIFICATE-----');
  expect(pem).not.toContain('PRIVATE KEY');

  const url = `https://${FQDN}:${port}`;
  const answer = await health(url, pem);
  expect(answer.status).toBe(200);
  await expect(health(url, '')).rejects.toThrow();

  await certCard().scrollIntoViewIfNeeded();
  await shoot('settings-certificates', true);
});

test('removing the unused certificate asks first', async () => {
  const rows = certCard().getByRole('listitem');
  await rows
    .filter({ hasText: `CN=${WRONG}` })
    .getByRole('button', { name: `Remove ${WRONG}` })
    .click();
  const confirm = page.getByRole('alertdialog', { name: 'Remove this certificate?' });
  await expect(confirm).toBeVisible();
  await confirm.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(confirm).toHaveCount(0);
  await expect(rows).toHaveCount(1);
  await expect(certCard()).toContainText(`Removed CN=${WRONG}`);
});

test('Import certificate reads the file and shows its check before importing', async () => {
  await certCard().getByRole('button', { name: 'Import certificate' }).click();
  await certCard()
    .getByLabel('Certificate file')
    .setInputFiles({ name: 'node.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(pem) });
  await certCard().getByRole('button', { name: 'Check certificate' }).click();
  const checked = certCard().getByRole('region', { name: 'Checked certificate' });
  await expect(checked).toContainText('NO_PRIVATE_KEY');
  await expect(checked).toContainText('How to fix:');
  await expect(certCard().getByRole('button', { name: 'Import', exact: true })).toBeVisible();
  await certCard().getByRole('button', { name: 'Cancel' }).click();
  await expect(certCard().getByRole('listitem')).toHaveCount(1);
});

test('readable at 200 % zoom (640 px wide): Settings and the dialog without horizontal scroll', async () => {
  await page.setViewportSize({ width: 640, height: 400 });
  const overflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await page.getByRole('button', { name: 'Change remote access' }).click();
  await expect(dialog()).toBeVisible();
  await expect(dialog().getByLabel('Enabled with TLS/SSL certificate')).toBeChecked();
  const bodyOverflow = await dialog().evaluate((element) => {
    const body = element.querySelector('.modal__body');
    return body ? body.scrollWidth - body.clientWidth : 0;
  });
  expect(bodyOverflow).toBeLessThanOrEqual(0);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await shoot('remote-access-zoom200');
  await page.keyboard.press('Escape');
  await expect(dialog()).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Change remote access' })).toBeFocused();
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('Register page: a second node enables remote access with a generated certificate as it joins', async ({
  browser,
}) => {
  const fqdn2 = 'ra-node2.openir.test';
  web2 = await startWebHost({ OPENIR_FQDN: fqdn2, ...LOOPBACK_PEERS });
  const port2 = await freePort();
  const page2 = await browser.newPage();
  try {
    await page2.goto(web2.url);
    await page2.getByLabel('Authentication key', { exact: true }).fill(key);
    await page2.getByLabel('Enable remote access from intranet').check();
    await expect(page2.getByLabel('Enabled with TLS/SSL certificate')).toBeChecked();
    await expect(page2.getByRole('radiogroup', { name: 'Certificate' })).toContainText('store is empty');
    await page2.getByRole('button', { name: 'Generate self-signed' }).click();
    await expect(page2.getByLabel('DNS names')).toHaveValue(fqdn2);
    await page2.getByRole('button', { name: 'Generate certificate' }).click();
    await expect(
      page2.getByRole('radio', { name: new RegExp(`^${fqdn2.replace(/\./g, '\\.')}`) }),
    ).toBeChecked({
      timeout: 15_000,
    });
    await expect(page2.getByText('This certificate meets the requirements for this node.')).toBeVisible();
    await page2.getByRole('textbox', { name: 'Port' }).fill(String(port2));
    for (const scheme of ['light', 'dark'] as const) {
      await page2.emulateMedia({ colorScheme: scheme });
      await page2.screenshot({
        path: path.join(SCREENSHOTS, `register-remote-access-${scheme}.png`),
        fullPage: true,
      });
    }
    await page2.getByRole('button', { name: 'Register' }).click();
    await expect(page2.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });
    const shown = (await runCli(['remote-access', 'show', '--json'], { env: web2.env })).json as {
      settings: { mode: string; port?: number };
      listening: boolean;
      url: string | null;
    };
    expect(shown).toMatchObject({ settings: { mode: 'tls', port: port2 }, listening: true });
    expect(shown.url).toBe(`https://127.0.0.1:${port2}`);
  } finally {
    await page2.close();
  }

  // The first node now shares its integration runtime: its setting is locked, and says why.
  const change = remoteCard().getByRole('button', { name: 'Change remote access' });
  await expect(change).toBeDisabled({ timeout: 15_000 });
  await expect(remoteCard()).toContainText('cannot be changed now');
  await remoteCard().scrollIntoViewIfNeeded();
  await shoot('settings-remote-access-locked');
});
