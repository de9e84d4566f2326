'use strict';
// Electron's own postinstall downloads its binary from a host that some
// machines (CI, air-gapped build hosts) cannot reach. npm is told not to run
// it (package.json "allowScripts"); we run it here instead and treat a failed
// download as "no desktop on this machine", never as a failed install.
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const installer = path.join(__dirname, '..', 'node_modules', 'electron', 'install.js');
if (!fs.existsSync(installer)) process.exit(0);
if (process.env.ELECTRON_SKIP_BINARY_DOWNLOAD === '1') {
  console.log(
    'Electron binary download skipped (ELECTRON_SKIP_BINARY_DOWNLOAD=1): `npm start` will run the headless UI',
  );
  process.exit(0);
}
const run = spawnSync(process.execPath, [installer], { stdio: 'pipe', timeout: 120_000 });
if (run.status === 0) process.exit(0);
console.log('Electron binary unavailable: `npm start` will run the headless UI');
process.exit(0);
