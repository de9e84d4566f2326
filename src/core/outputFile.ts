import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { OpenIrError } from '../shared/errors';

/**
 * A file the user asked for (`--out F`): checked before any work is done
 * (an existing file, a missing or read-only folder), then written atomically
 * (temp + fsync + link or rename), so a crash or a full disk leaves no torn
 * file, and a file that appeared meanwhile is still not overwritten.
 */
export async function checkOutputFile(file: string, overwrite: boolean): Promise<void> {
  const dir = path.dirname(file);
  const stat = await fs.stat(file).catch(() => null);
  if (stat?.isDirectory()) {
    throw new OpenIrError('FILE_EXISTS', `${file} is a folder.`, {
      fix: 'Give a file name, e.g. --out diagnostics.zip.',
    });
  }
  if (stat && !overwrite) {
    throw new OpenIrError('FILE_EXISTS', `${file} already exists.`, {
      fix: 'Choose another file name, or add --overwrite.',
    });
  }
  try {
    if (!(await fs.stat(dir)).isDirectory())
      throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await fs.access(dir, fs.constants.W_OK);
  } catch (error) {
    throw notWritable(file, error);
  }
}

export async function writeOutputFile(file: string, data: Uint8Array, overwrite: boolean): Promise<void> {
  await checkOutputFile(file, overwrite);
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (overwrite) {
      await fs.rename(tmp, file);
    } else {
      // link() never replaces: a file created since the check is kept, and we fail instead.
      await fs.link(tmp, file);
      await fs.rm(tmp, { force: true });
    }
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new OpenIrError('FILE_EXISTS', `${file} already exists.`, {
        fix: 'Choose another file name, or add --overwrite.',
      });
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new OpenIrError('DISK_FULL', `Could not write ${file}: the disk is full. Nothing was written.`, {
        fix: `Free space on the disk holding ${dir}, or write the file elsewhere.`,
        cause: error,
      });
    }
    throw notWritable(file, error);
  }
}

function notWritable(file: string, error: unknown): OpenIrError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'its folder does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : ((error as Error).message ?? String(error));
  return new OpenIrError('FILE_NOT_WRITABLE', `Cannot write ${file}: ${why}.`, {
    fix: 'Give a path in an existing folder you can write to.',
    cause: error,
  });
}
