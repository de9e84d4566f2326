import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { electronBinary } = require('../../scripts/electron-binary') as {
  electronBinary: (root?: string) => string | null;
};

afterAll(cleanupTempDirs);

describe('finding the Electron binary without downloading it', () => {
  it('reads what Electron’s install wrote, and answers null when the binary is not there', () => {
    const root = tempDir();
    const dir = path.join(root, 'node_modules', 'electron');
    fs.mkdirSync(dir, { recursive: true });
    expect(electronBinary(root)).toBeNull(); // no path.txt: never installed
    fs.writeFileSync(path.join(dir, 'path.txt'), 'electron');
    expect(electronBinary(root)).toBeNull(); // installed once, binary gone (require('electron') would download here)
    fs.mkdirSync(path.join(dir, 'dist'));
    fs.writeFileSync(path.join(dir, 'dist', 'electron'), '');
    expect(electronBinary(root)).toBe(path.join(dir, 'dist', 'electron'));
  });

  it('asking on this machine prints nothing (no download attempt) and names a binary only if it exists', () => {
    const logged: unknown[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void logged.push(args);
    let found: string | null;
    try {
      found = electronBinary();
    } finally {
      console.log = original;
    }
    expect(logged).toEqual([]);
    expect(found === null || fs.existsSync(found)).toBe(true);
  });
});
