'use strict';
// `npm test`: runs the Vitest suites against real parts. When this machine has
// gnome-keyring and D-Bus but no session bus, it first starts a private session
// with an unlocked keyring, so the Secret Service vault is tested for real;
// otherwise those tests are skipped with a printed reason.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const args = process.argv.slice(2);

if (
  !process.env.DBUS_SESSION_BUS_ADDRESS &&
  !process.env.OPENIR_TEST_IN_KEYRING &&
  has('dbus-run-session') &&
  has('gnome-keyring-daemon')
) {
  const dataHome = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-keyring-'));
  const inner = `echo -n openir-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "${process.execPath}" "${__filename}" "$@"`;
  const run = spawnSync('dbus-run-session', ['--', 'sh', '-c', inner, 'sh', ...args], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, XDG_DATA_HOME: dataHome, OPENIR_TEST_IN_KEYRING: '1' },
  });
  fs.rmSync(dataHome, { recursive: true, force: true });
  process.exit(run.status ?? 1);
}

if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
  console.log(
    'note: no D-Bus session and no gnome-keyring here; Secret Service tests will be skipped (install gnome-keyring dbus to run them)',
  );
}
// Vitest runs the unit, integration and process-level suites; Playwright the browser and Electron suites.
// `npm test -- <vitest args>` narrows the Vitest run and skips Playwright.
const env = {
  ...process.env,
  VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true',
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
};
const vitest = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...args],
  {
    stdio: 'inherit',
    cwd: root,
    env,
  },
);
if (args.length > 0) process.exit(vitest.status ?? 1);
const playwright = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', '@playwright', 'test', 'cli.js'), 'test'],
  {
    stdio: 'inherit',
    cwd: root,
    env,
  },
);
process.exit(vitest.status || playwright.status || 0);
