import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/core/atomicFile';
import { ConfigStore, DEFAULT_CONFIG } from '../../src/core/config';
import { OpenIrError } from '../../src/shared/errors';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

describe('ConfigStore', () => {
  it('starts from defaults and persists updates atomically with 0600', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    const store = new ConfigStore(file);
    expect(await store.load()).toEqual(DEFAULT_CONFIG);
    await store.update((c) => {
      c.logLevel = 'debug';
    });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).logLevel).toBe('debug');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await new ConfigStore(file).load()).logLevel).toBe('debug');
  });

  it('serializes concurrent updates so none is lost', async () => {
    const file = path.join(tempDir(), 'config.json');
    const store = new ConfigStore(file);
    await Promise.all([
      store.update((c) => void (c.logLevel = 'warn')),
      store.update((c) => void (c.vaultBackend = 'encrypted-file')),
    ]);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(saved).toMatchObject({ logLevel: 'warn', vaultBackend: 'encrypted-file' });
  });

  it('an invalid update is refused and changes nothing', async () => {
    const file = path.join(tempDir(), 'config.json');
    const store = new ConfigStore(file);
    await store.update((c) => void (c.logLevel = 'info'));
    await expect(store.update((c) => void ((c as { logLevel: string }).logLevel = 'loud'))).rejects.toThrow();
    expect((await store.load()).logLevel).toBe('info');
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).logLevel).toBe('info');
  });

  it('a damaged config file gives a clear error instead of silently resetting', async () => {
    const file = path.join(tempDir(), 'config.json');
    fs.writeFileSync(file, '{ not json');
    await expect(new ConfigStore(file).load()).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('writeFileAtomic on a full disk', () => {
  const mountPoint = tempDir();
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { stdio: 'ignore' });
    mounted = true;
  } catch {
    console.log('skipped: full-disk test needs root and tmpfs mounts (mount -t tmpfs failed here)');
  }
  afterAll(() => {
    if (mounted) execFileSync('umount', [mountPoint]);
  });

  it.runIf(mounted)('reports STORAGE_WRITE_FAILED with "disk is full" and keeps the old file', async () => {
    const file = path.join(mountPoint, 'config.json');
    await writeFileAtomic(file, 'old content');
    try {
      fs.writeFileSync(path.join(mountPoint, 'filler'), Buffer.alloc(60 * 1024));
    } catch {
      // The filler itself may hit the limit; that is the point.
    }
    const error = await writeFileAtomic(file, Buffer.alloc(32 * 1024, 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenIrError);
    expect((error as OpenIrError).code).toBe('STORAGE_WRITE_FAILED');
    expect((error as OpenIrError).message).toMatch(/disk is full/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old content');
    expect(fs.readdirSync(mountPoint).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
