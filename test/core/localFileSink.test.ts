import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LocalPathPolicy } from '../../src/core/jobs/pathPolicy';
import { openLocalFileSink } from '../../src/core/jobs/sinks';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

const MIB = 1024 * 1024;
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('the local file sink', () => {
  it('flushes to disk in the background while it writes (so the commit has little left), same bytes', async () => {
    const root = tempDir('openir-localsink-');
    const sink = await openLocalFileSink(new LocalPathPolicy(async () => [root]), root, 'out/data.bin');
    const data = randomBytes(40 * MIB);
    const flushes = vi.spyOn(fs, 'fdatasync');
    try {
      const chunks = Array.from({ length: 40 }, (_, i) => data.subarray(i * MIB, (i + 1) * MIB));
      await pipeline(Readable.from(chunks), sink.open(0, data.length));
      // 40 MiB: a flush after 16 MiB and (once that one returned) another after the next 16 MiB, at most.
      expect(flushes.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(flushes.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      flushes.mockRestore();
    }
    await sink.commit();
    expect(sha(fs.readFileSync(path.join(root, 'out', 'data.bin')))).toBe(sha(data));
    expect(fs.readdirSync(path.join(root, 'out'))).toEqual(['data.bin']);
  });

  it('an abort while a flush is on its way closes the file after it and leaves nothing', async () => {
    const root = tempDir('openir-localsink-');
    const sink = await openLocalFileSink(new LocalPathPolicy(async () => [root]), root, 'data.bin');
    const stream = sink.open(0, 32 * MIB);
    let flushed = 0;
    let flushStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (flushStarted = resolve));
    const flushes = vi.spyOn(fs, 'fdatasync').mockImplementation((_fd, callback) => {
      flushStarted();
      // A slow disk: the flush returns only after the abort started.
      setTimeout(() => {
        flushed += 1;
        callback(null);
      }, 500);
    });
    stream.on('error', () => undefined);
    try {
      for (let i = 0; i < 20; i += 1) stream.write(randomBytes(MIB));
      await started;
      await sink.abort();
      expect(flushed).toBe(1);
    } finally {
      flushes.mockRestore();
    }
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
