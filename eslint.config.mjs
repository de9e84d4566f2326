// Lint also guards the layers of README.md ("How it fits together"): imports run downward only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'http', 'https', 'net', 'tls', 'crypto', 'child_process'];
const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((group) => ({ group: [group], message })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'release/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  layer(
    ['src/shared/**'],
    [
      ...nodeBuiltins,
      'electron',
      '**/core/**',
      '**/main/**',
      '**/cli/**',
      '**/web/**',
      '**/renderer/**',
      '**/control-plane/**',
    ],
    'src/shared is pure: no Node built-ins, no electron, no upper layer.',
  ),
  layer(
    ['src/core/**'],
    ['electron', '**/main/**', '**/cli/**', '**/web/**', '**/renderer/**', '**/control-plane/**'],
    'src/core runs the same inside Electron and headless: it never imports electron or a face above it.',
  ),
  layer(
    ['src/cli/**'],
    ['electron', '**/main/**', '**/renderer/**', '**/control-plane/**'],
    'The CLI sits on core and shared (and starts the web face for `openir serve`).',
  ),
  layer(
    ['src/web/**'],
    ['electron', '**/main/**', '**/cli/**', '**/renderer/**', '**/control-plane/**'],
    'The web host sits on core and shared only.',
  ),
  layer(
    ['src/main/**'],
    ['**/cli/**', '**/web/**', '**/renderer/**', '**/control-plane/**'],
    'main sits on core and shared only.',
  ),
  layer(
    ['src/renderer/**'],
    [
      ...nodeBuiltins,
      'electron',
      '**/core/**',
      '**/main/**',
      '**/cli/**',
      '**/web/**',
      '**/control-plane/**',
    ],
    'The renderer talks to the host only through the contract in src/shared.',
  ),
  layer(
    ['src/control-plane/**'],
    ['electron', '**/core/**', '**/main/**', '**/cli/**', '**/web/**', '**/renderer/**'],
    'The control plane shares only the contract (src/shared) with the node.',
  ),
);
