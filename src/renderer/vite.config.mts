import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// One build serves both faces: Electron loads it from file:// (hence the
// relative base) and `openir serve` serves it over loopback HTTP.
// No node:path here: lint holds everything under src/renderer to browser imports.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [react()],
  build: {
    // Relative to `root`.
    outDir: '../../dist/renderer',
    emptyOutDir: true,
    // No inline scripts: the CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    // Measured by `bench/ui.ts` against the 250 KB gzipped goal instead.
    chunkSizeWarningLimit: 600,
  },
});
