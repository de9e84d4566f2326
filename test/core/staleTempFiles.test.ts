import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTempFiles, writeFileAtomic } from '../../src/core/atomicFile';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

describe('removeStaleTempFiles', () => {
  afterAll(() => cleanupTempDirs());

  it('removes the temp files of writers that are gone, and only those', async () => {
    const dir = tempDir('openir-stale-');
    // A process that has exited: its pid names a writer that can never finish.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const deadTemp = path.join(dir, `.config.json.${dead}.0123abcd.tmp`);
    const liveTemp = path.join(dir, `.credentials.json.${process.pid}.89abcdef.tmp`);
    for (const file of [deadTemp, liveTemp, path.join(dir, 'notes.tmp'), path.join(dir, '.x.12.short.tmp')]) {
      fs.writeFileSync(file, 'partial');
    }
    await writeFileAtomic(path.join(dir, 'config.json'), '{}\n');

    const removed = await removeStaleTempFiles([dir, path.join(dir, 'missing')]);

    expect(removed).toEqual([deadTemp]);
    expect(fs.readdirSync(dir).sort()).toEqual(
      [
        '.credentials.json.' + `${process.pid}.89abcdef.tmp`,
        '.x.12.short.tmp',
        'config.json',
        'notes.tmp',
      ].sort(),
    );
  });
});
