'use strict';
// `npm start`: the desktop app where Electron and a display exist; otherwise
// the headless host, saying why.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { electronBinary } = require('./electron-binary');

const root = path.join(__dirname, '..');

function hasDisplay() {
  if (process.platform === 'win32' || process.platform === 'darwin') return true;
  return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

const electron = electronBinary();
const desktopMain = path.join(root, 'dist', 'main', 'main.js');
let child;
if (electron && hasDisplay() && fs.existsSync(desktopMain)) {
  child = spawn(electron, [root], { stdio: 'inherit' });
} else {
  const why = !electron
    ? 'the Electron binary is not installed on this machine'
    : !hasDisplay()
      ? 'there is no display (DISPLAY/WAYLAND_DISPLAY unset)'
      : 'the desktop app is not built in this version';
  console.log(`Starting the headless OpenIR host because ${why}.`);
  child = spawn(process.execPath, [path.join(root, 'bin', 'openir.js'), 'serve', ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
