/// <reference lib="dom" />
import { expect, test, type Page } from '@playwright/test';
import { cleanupTempDirs } from '../test/helpers/tmp';
import { startWebHost, type WebHost } from '../test/helpers/webHost';
import { shootBoth } from './screenshots';

/**
 * The web session in a real browser: the printed URL signs in once, another
 * sign-in needs `openir ui-url`, and an idle session ends with the page saying
 * so at once (its event socket is closed by the host). The idle time is
 * shortened with OPENIR_WEB_SESSION_IDLE_MS; nothing here asserts timing.
 */

test.describe.configure({ mode: 'serial' });

let web: WebHost;
let page: Page;

test.beforeAll(async ({ browser }) => {
  web = await startWebHost({ OPENIR_VAULT: 'file', OPENIR_WEB_SESSION_IDLE_MS: '5000' });
  page = await browser.newPage();
});

test.afterAll(async () => {
  await page.close();
  await web.stop();
  cleanupTempDirs();
});

test('the printed URL signs in once; a second browser needs `openir ui-url`', async ({ browser }) => {
  await page.goto(web.url);
  await expect(page).toHaveURL(`${web.origin}/`);
  await expect(page.getByTestId('node-status')).toHaveText('NeedRegistration');
  const cookies = await page.context().cookies();
  expect(cookies.map((c) => c.name)).toEqual([`openir_session_${web.port}`]);

  const other = await browser.newPage();
  const again = await other.goto(web.url);
  expect(again?.status()).toBe(401);
  await expect(other.locator('body')).toContainText('openir ui-url');
  await other.goto(await web.signInUrl());
  await expect(other.getByTestId('node-status')).toHaveText('NeedRegistration');
  await other.close();
});

test('an idle session ends and the page says so, with what to do', async () => {
  const alert = page.getByRole('alert').filter({ hasText: 'Session expired' });
  await expect(alert).toBeVisible({ timeout: 60_000 });
  await expect(alert).toContainText('openir ui-url');
  await shootBoth(page, 'web-session-expired');
});
