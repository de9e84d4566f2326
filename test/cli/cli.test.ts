import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

/** The CLI in-process with its I/O captured; no host is running in OPENIR_HOME. */
async function run(args: string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    env: { ...process.env, OPENIR_HOME: tempDir() },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: async () => stdin,
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('openir CLI', () => {
  it('status without a host says Stopped and how to start it', async () => {
    const result = await run(['status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Stopped.*openir start/);
    const json = await run(['status', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'Stopped',
      hostRunning: false,
      registered: false,
    });
  });

  it('an unknown command exits 2 with help', async () => {
    const result = await run(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command/);
  });

  it('a malformed key fails with a one-line reason and a JSON error object', async () => {
    const result = await run(['register', '--key-stdin', '--json'], 'IR@x@y');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      error: expect.objectContaining({
        code: 'AUTH_KEY_MALFORMED',
        message: expect.any(String),
        fix: expect.any(String),
      }),
    });
    expect(result.stderr.split('\n')).toHaveLength(1);
  });

  it('refuses a key passed as an argument, without echoing it (secrets never in argv)', async () => {
    const result = await run(['register', 'IR@x@sekret-value', '--json']);
    expect(result.code).toBe(1);
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string; fix: string } })
      .error;
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(/visible to every user/);
    expect(error.fix).toMatch(/--key-stdin|--key-file/);
    expect(result.stdout + result.stderr).not.toContain('sekret-value');
  });

  it('refuses HTTP header values on the command line, and points at --headers-file', async () => {
    const result = await run([
      'credential',
      'set',
      'api',
      '--type',
      'http',
      '--base-url',
      'https://api.example/',
      '--header',
      'X-Api-Key: sekret-value',
      '--json',
    ]);
    expect(result.code).toBe(1);
    const error = (JSON.parse(result.stdout) as { error: { code: string; fix: string } }).error;
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.fix).toContain('--headers-file');
    const missing = await run([
      'credential',
      'set',
      'api',
      '--type',
      'http',
      '--base-url',
      'https://api.example/',
      '--headers-file',
      '/nonexistent/headers.txt',
      '--json',
    ]);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe('UNREADABLE');
  });

  it('stop without a host is not an error', async () => {
    const result = await run(['stop', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).status).toBe('Stopped');
  });
});
