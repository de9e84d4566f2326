import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { OpenIrError } from '../shared/errors';
import { processAlive } from './processAlive';

/**
 * Writes a file so that a crash at any point leaves either the old or the new
 * content, never a torn file: temp file in the same folder, fsync, rename,
 * fsync the folder. A full disk surfaces as STORAGE_WRITE_FAILED and leaves the
 * old file untouched.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await fs.open(tmp, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await syncDir(dir);
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOSPC'
        ? 'the disk is full'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : ((error as Error).message ?? String(error));
    throw new OpenIrError(
      'STORAGE_WRITE_FAILED',
      `Could not save ${path.basename(file)}: ${why}. Nothing was changed.`,
      {
        fix:
          code === 'ENOSPC'
            ? `Free space on the disk holding ${dir} and try again.`
            : `Check that ${dir} is writable.`,
        cause: error,
      },
    );
  }
}

async function syncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; rename is already durable enough there.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `writeFileAtomic`'s temp name: `.<file>.<pid>.<8 hex>.tmp`. */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temp files of atomic writes whose process is gone: a host
 * killed between writing the temp file and renaming it leaves one behind,
 * and without this every crash would add one more, secrets included (a
 * sealed vault file, never plain text). A temp file of a live process (a CLI
 * writing beside the host) is left alone. Returns the names removed.
 */
export async function removeStaleTempFiles(dirs: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = TEMP_NAME.exec(name);
      if (!match || processAlive(Number(match[1]))) continue;
      await fs.rm(path.join(dir, name), { force: true });
      removed.push(path.join(dir, name));
    }
  }
  return removed;
}
