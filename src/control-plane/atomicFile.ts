import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Writes through a temp file + fsync + rename, so a crash leaves either the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = openSync(temp, 'w', mode);
    try {
      // writeFileSync on the descriptor writes all of it (writeSync may stop short).
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
