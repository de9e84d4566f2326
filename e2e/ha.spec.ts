/// <reference lib="dom" />
import { expect, test, type Page } from '@playwright/test';
import {
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../test/helpers/controlPlane';
import { makeNode, runCli, stopAllNodes, type TestNode } from '../test/helpers/node';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/**
 * High availability in the Configuration Manager, against a real `openir serve`, two more real
 * host processes and the real control plane: the Register page explains the join rule, Home lists
 * every node of the IR with state, version and jobs, a credential set on another node shows up in
 * Settings, and a peer that cannot be reached turns this node Limited with the reason.
 */

test.describe.configure({ mode: 'serial' });

const SYNC_ENV = {
  OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1',
  OPENIR_ADVERTISE_HOST: '127.0.0.1',
  OPENIR_PEER_SYNC_INTERVAL_MS: '500',
};

let cp: RunningControlPlane;
let web: WebHost;
let page: Page;
let key = '';
let first: TestNode;
let third: TestNode;

const shoot = (name: string, fullPage = false) => shootBoth(page, name, fullPage);

const nodesTable = () => page.getByRole('table', { name: 'Nodes in this integration runtime' });

test.beforeAll(async ({ browser }) => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
  key = (await cp.createIr('ha-web-ir')).key1;
  first = makeNode(SYNC_ENV, 'ha-first');
  third = makeNode(SYNC_ENV, 'ha-third');
  await first.startHost();
  const registered = await first.cli(['register', '--key-stdin', '--json'], key);
  expect(registered.code, registered.stderr).toBe(0);
  web = await startWebHost({ ...SYNC_ENV, OPENIR_FQDN: 'ha-web.openir.test' });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

test.afterAll(async () => {
  await page?.close();
  await web?.stop();
  await stopAllNodes();
  await stopControlPlanes();
  cleanupTempDirs();
});

test('Register page: joining an IR whose node has no remote access says what to enable', async () => {
  await page.goto(web.url);
  await page.getByLabel('Authentication key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Register' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'REMOTE_ACCESS_REQUIRED' });
  await expect(alert).toBeVisible({ timeout: 15_000 });
  await expect(alert).toContainText("'ha-first' has it disabled");
  await expect(alert).toContainText('Enable remote access on that node');
  await shoot('register-remote-access-required', true);
});

test('with remote access on every node, the node joins and Home lists all three', async () => {
  await first.enableRemoteAccess();
  // This node enables it before joining (afterwards the IR has two nodes and it is locked).
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const enabled = await runCli(['remote-access', 'enable', '--no-tls', '--port', port, '--json'], {
    env: web.env,
  });
  expect(enabled.code, enabled.stderr).toBe(0);
  await page.getByRole('button', { name: 'Register' }).click();
  // A second node waits for the admin: Home says so and shows the fingerprint to compare.
  await expect(page.getByTestId('node-status')).toHaveText('Pending', { timeout: 15_000 });
  const shown = page.getByTestId('sync-key-fingerprint');
  await expect(shown).toHaveText(/^SHA256:[A-Za-z0-9+/]{43}$/);
  const fingerprint = (await shown.textContent()) ?? '';
  await expect(page.getByText('Waiting for approval')).toBeVisible();
  await expect(page.getByText(`ir approve ha-web-ir ha-web --fingerprint ${fingerprint}`)).toBeVisible();
  await shoot('home-pending-approval', true);
  await cp.adminOk(['ir', 'approve', 'ha-web-ir', 'ha-web', '--fingerprint', fingerprint]);
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 15_000 });

  await third.startHost();
  await third.enableRemoteAccess();
  const joined = await third.cli(['register', '--key-stdin', '--json'], key);
  expect(joined.code).toBe(0);
  const thirdStatus = joined.json as { status: string; syncKeyFingerprint: string };
  expect(thirdStatus.status).toBe('Pending');
  await cp.adminOk([
    'ir',
    'approve',
    'ha-web-ir',
    'ha-third',
    '--fingerprint',
    thirdStatus.syncKeyFingerprint,
  ]);
  await expect(nodesTable().locator('tbody tr')).toHaveCount(3, { timeout: 15_000 });
  for (const name of ['ha-first', 'ha-web', 'ha-third']) {
    const row = nodesTable().getByRole('row', { name: new RegExp(`^${name}`) });
    await expect(row).toContainText('Online');
    await expect(row).toContainText('0.1.0');
  }
  await expect(nodesTable().getByRole('row', { name: /^ha-web/ })).toContainText('this node');
  await nodesTable().scrollIntoViewIfNeeded();
  await shoot('home-ha-nodes', true);
});

test('a credential set on another node appears in the open Settings page, its secret not in the page', async () => {
  // Settings is open first: the synced credential must arrive as a pushed event, not by reloading.
  await page.getByRole('tab', { name: 'Settings' }).click();
  const card = page.getByRole('region', { name: 'Data store credentials' });
  await expect(card).toBeVisible();
  await expect(card).not.toContainText('warehouse');
  const secret = 'sync-me-not-in-page';
  const set = await third.cli(
    [
      'credential',
      'set',
      'warehouse',
      '--type',
      'postgresql',
      '--host',
      'db.corp',
      '--database',
      'dw',
      '--user',
      'etl',
      '--secret-stdin',
      '--json',
    ],
    `${secret}\n`,
  );
  expect(set.code, set.stderr).toBe(0);
  await expect(card).toContainText('warehouse', { timeout: 15_000 });
  await expect(card).toContainText('db.corp:5432');
  expect(await page.content()).not.toContain(secret);
  await card.scrollIntoViewIfNeeded();
  await shoot('settings-credential-synced');
});

test('a peer that cannot be reached makes this node Limited, with the peer and the reason', async () => {
  await third.kill('SIGTERM');
  third.env.OPENIR_ADVERTISE_HOST = '127.0.0.2';
  await third.startHost();
  await page.getByRole('tab', { name: 'Home' }).click();
  await expect(page.getByTestId('node-status')).toHaveText('Limited', { timeout: 20_000 });
  await expect(page.getByText('PEERS_UNREACHABLE')).toBeVisible();
  await expect(page.getByText(/cannot reach 'ha-third' at http:\/\/127\.0\.0\.2:/)).toBeVisible();
  await shoot('home-limited-peer', true);
  await third.kill('SIGTERM');
  third.env.OPENIR_ADVERTISE_HOST = '127.0.0.1';
  await third.startHost();
  await expect(page.getByTestId('node-status')).toHaveText('Online', { timeout: 20_000 });
});
