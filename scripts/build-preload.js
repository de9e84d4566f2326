'use strict';
// The sandboxed preload must be a single CommonJS file: bundle it with esbuild.
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
esbuild.buildSync({
  entryPoints: [path.join(root, 'src', 'preload', 'preload.ts')],
  outfile: path.join(root, 'dist', 'preload', 'preload.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['electron'],
  logLevel: 'warning',
});
