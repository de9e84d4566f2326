import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The built CLI (`npm test` builds first), as bin/openir.js runs it.
const CLI_MAIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Runs a child that writes `bytes` to stdout and stderr through a pipe, then exits through `how`. */
function run(
  how: 'process.exit' | 'exitAfterOutput',
  bytes: number,
): Promise<{ out: number; err: number; code: number | null }> {
  const script = `
    const { exitAfterOutput } = require(${JSON.stringify(CLI_MAIN)});
    process.stdout.write('o'.repeat(${bytes}));
    process.stderr.write('e'.repeat(${bytes}));
    ${how === 'process.exit' ? 'process.exit(3)' : 'exitAfterOutput(3)'};`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = 0;
    let err = 0;
    child.stdout.on('data', (d: Buffer) => (out += d.length));
    child.stderr.on('data', (d: Buffer) => (err += d.length));
    child.on('error', reject);
    child.on('close', (code) => resolve({ out, err, code }));
  });
}

describe('the launchers end only after their output is written', () => {
  it('a 3 MB --json answer on a pipe arrives whole, with the exit code', async () => {
    expect(await run('exitAfterOutput', 3_000_000)).toEqual({ out: 3_000_000, err: 3_000_000, code: 3 });
  });

  it('(why: process.exit right after the write cuts it short on this platform)', async () => {
    const cut = await run('process.exit', 3_000_000);
    expect(cut.code).toBe(3);
    expect(cut.out).toBeLessThan(3_000_000);
  });
});
