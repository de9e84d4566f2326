'use strict';
// Where the Electron binary is, or null, WITHOUT require('electron'): in
// Electron 45 that require downloads the binary when it is missing, which a
// machine without access to Electron's release host must never try (and a
// test run must not reach outside). Reads what Electron's own install wrote.
const fs = require('node:fs');
const path = require('node:path');

function electronBinary(root = path.join(__dirname, '..')) {
  const dir = path.join(root, 'node_modules', 'electron');
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const name = process.platform === 'win32' ? 'electron.exe' : 'electron';
    const bin = path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH, name);
    return fs.existsSync(bin) ? bin : null;
  }
  let relative;
  try {
    relative = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
  } catch {
    return null;
  }
  const bin = path.join(dir, 'dist', relative);
  return relative && fs.existsSync(bin) ? bin : null;
}

module.exports = { electronBinary };
