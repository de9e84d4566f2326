import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// One build serves both faces: Electron loads it from file:// (hence the
// relative base) and `openir serve` serves it over loopback HTTP.
export default defineConfig({
  root: __dirname,
  base: './',
  plugins: [react()],
  build: {
    outDir: path.resolve(__dirname, '../../dist/renderer'),
    emptyOutDir: true,
    // No inline scripts: the CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
