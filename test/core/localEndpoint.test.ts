import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostClient } from '../../src/cli/client';
import {
  answers,
  forgetPipeName,
  holdLock,
  lockPipeName,
  localEndpoint,
  newPipeName,
  recordedPipeName,
  recordPipeName,
} from '../../src/core/localEndpoint';
import { dataPaths } from '../../src/core/paths';
import { PIPE_NAME_PATTERN } from '../../src/shared/windowsAcl';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

describe('the local API endpoint', () => {
  it('Windows: the pipe name is random, not derived from the data directory, and recorded there', async () => {
    const home = tempDir('openir-endpoint-');
    const paths = dataPaths(home, 'win32');
    // Two homes, or two starts of one home, never share a name; the old name was sha256(home).
    const names = new Set(Array.from({ length: 50 }, () => newPipeName()));
    expect(names.size).toBe(50);
    for (const name of names) expect(name).toMatch(PIPE_NAME_PATTERN);
    expect(JSON.stringify(paths)).not.toMatch(/\\pipe\\/);

    // Not started yet: the CLI says the host is not running.
    expect(() => localEndpoint(paths, 'win32')).toThrow(
      expect.objectContaining({ code: 'HOST_NOT_RUNNING' }),
    );
    expect(recordedPipeName(paths)).toBeNull();

    fs.mkdirSync(paths.runDir, { recursive: true });
    const name = newPipeName();
    await recordPipeName(paths, name, false);
    expect(localEndpoint(paths, 'win32')).toBe(name);
    expect(fs.statSync(paths.pipeNameFile).mode & 0o777).toBe(0o600);
    await recordPipeName(paths, name, true);
    expect(fs.statSync(paths.pipeNameFile).mode & 0o777).toBe(0o640);

    // A clean stop forgets the name, unless a newer host recorded its own meanwhile.
    await forgetPipeName(paths, newPipeName());
    expect(recordedPipeName(paths)).toBe(name);
    await forgetPipeName(paths, name);
    expect(recordedPipeName(paths)).toBeNull();
    await recordPipeName(paths, name, false);

    // An edited record pointing at another pipe (or anything else) is never connected to.
    for (const other of [
      '\\\\.\\pipe\\evil',
      `${name}x`,
      '\\\\remote\\pipe\\openir-' + 'a'.repeat(32),
      '/tmp/sock',
    ]) {
      fs.writeFileSync(paths.pipeNameFile, other);
      expect(() => localEndpoint(paths, 'win32')).toThrow(
        expect.objectContaining({ code: 'HOST_NOT_RUNNING' }),
      );
      expect(recordedPipeName(paths)).toBeNull();
    }
  });

  it('Linux and macOS: the socket in the run folder, as before', () => {
    const paths = dataPaths('/var/lib/openir', 'linux');
    expect(localEndpoint(paths, 'linux')).toBe(path.join('/var/lib/openir', 'run', 'host.sock'));
  });

  it('the CLI finds the endpoint per request, so a host restarted on a new name is reached', async () => {
    const dir = tempDir('openir-endpoint-');
    const first = path.join(dir, 'a.sock');
    const second = path.join(dir, 'b.sock');
    let current = first;
    const servers = [first, second].map((where) =>
      net.createServer((socket) =>
        socket.once('data', () =>
          socket.end(
            'HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n' +
              JSON.stringify({ error: { code: 'INTERNAL', message: where } }),
          ),
        ),
      ),
    );
    await Promise.all(servers.map((s, i) => new Promise<void>((r) => s.listen(i === 0 ? first : second, r))));
    try {
      const client = new HostClient(() => current);
      await expect(client.call('getStatus', {})).rejects.toMatchObject({ message: first });
      current = second;
      await expect(client.call('getStatus', {})).rejects.toMatchObject({ message: second });
      expect(await answers(second)).toBe(true);
      expect(await answers(path.join(dir, 'none.sock'))).toBe(false);
    } finally {
      for (const s of servers) s.close();
    }
  });
});

describe('one host per data directory on Windows: the lock pipe', () => {
  it('is derived from the path, case-insensitively, and differs per directory', () => {
    const name = lockPipeName('C:\\ProgramData\\OpenIR');
    expect(name).toMatch(/^\\\\\.\\pipe\\openir-lock-[0-9a-f]{32}$/);
    expect(lockPipeName('c:\\programdata\\openir')).toBe(name);
    expect(lockPipeName('C:\\ProgramData\\OpenIR-2')).not.toBe(name);
    // Never an API pipe name: the CLI cannot be pointed at it.
    expect(PIPE_NAME_PATTERN.test(name)).toBe(false);
  });

  it('a second holder gets HOST_ALREADY_RUNNING until the first lets go', async () => {
    // A Unix socket stands in for the pipe here: both refuse a second listener with EADDRINUSE.
    const where = path.join(tempDir('openir-lock-'), 'lock.sock');
    const first = await holdLock(where, '/data');
    await expect(holdLock(where, '/data')).rejects.toMatchObject({
      code: 'HOST_ALREADY_RUNNING',
      message: expect.stringContaining('/data'),
    });
    await new Promise<void>((resolve) => first.close(() => resolve()));
    const again = await holdLock(where, '/data');
    again.close();
  });
});
