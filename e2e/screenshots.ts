import fs from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';

/** Where every spec writes its pictures (git-ignored); look at them after a run. */
export const SCREENSHOTS = path.join(__dirname, 'screenshots');
fs.mkdirSync(SCREENSHOTS, { recursive: true });

/** The page as it is now in both colour schemes: `<name>-light.png` and `<name>-dark.png`. */
export async function shootBoth(page: Page, name: string, fullPage = false): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${scheme}.png`), fullPage });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}
