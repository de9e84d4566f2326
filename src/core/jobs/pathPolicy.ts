import fsSync, { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { OpenIrError } from '../../shared/errors';

/**
 * Local folder path validation (the reference product's
 * `-EnableLocalFolderPathValidation`, always on here): a job may only touch
 * files under a folder the node's administrator allowed, so a job queued in the
 * cloud cannot read this machine's own disk. Paths are resolved to real paths
 * (symlinks followed, `..` collapsed) before the check, and the resolved path
 * is the one the job opens, so what is checked is what is used.
 *
 * Checking a name and then opening it leaves a window where a link can be
 * swapped in. So files are opened with O_NOFOLLOW (a link as the last part is
 * refused by the kernel, not followed) and the open handle is checked: fstat
 * says it is a regular file, and the path the kernel reports for the handle
 * (Linux: /proc/self/fd) is checked against the policy again, which catches a
 * folder swapped for a link too. Refusals name the path as the job wrote it
 * and the credential folder, never where a link points.
 */
export class LocalPathPolicy {
  constructor(private readonly allowedFolders: () => Promise<readonly string[]>) {}

  /** The real path of an existing file to read under `root`. */
  async forRead(root: string, relative: string): Promise<string> {
    const realRoot = await this.realRoot(root);
    const candidate = path.resolve(realRoot, stripLeadingSeparators(relative));
    // Judge the path as written first, so a job cannot even learn whether a file outside exists.
    await this.check(candidate, realRoot, relative);
    let real: string;
    try {
      real = await fs.realpath(candidate);
    } catch (error) {
      throw new OpenIrError('DATA_SOURCE_FAILED', `There is no file ${candidate} to read.`, {
        fix: 'Check the path in the job source.',
        cause: error,
      });
    }
    await this.check(real, realRoot, relative);
    return real;
  }

  /**
   * Opens an existing regular file under `root` for reading, checked on the
   * open handle. The handle is the caller's to close.
   */
  async openForRead(
    root: string,
    relative: string,
  ): Promise<{ handle: FileHandle; size: number; mtimeMs: number }> {
    const real = await this.forRead(root, relative);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: a FIFO swapped in must not hang the open; it is refused by fstat below.
      handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK ?? 0));
    } catch (error) {
      throw openRefusal(error, relative, 'read');
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw notAFile(relative);
      const realRoot = await this.realRoot(root);
      const opened = await handlePath(handle.fd);
      if (opened !== null) {
        await this.check(opened, realRoot, relative);
      } else {
        // No /proc: at least the file now at the checked name must be the one open.
        const atName = await fs.stat(real).catch(() => null);
        if (!atName || atName.ino !== stat.ino || atName.dev !== stat.dev)
          throw changedWhileOpening(relative);
      }
      return { handle, size: stat.size, mtimeMs: stat.mtimeMs };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** Where to write a file under `root`: its folders are created only once the path is known to be allowed. */
  async forWrite(root: string, relative: string): Promise<string> {
    const realRoot = await this.realRoot(root);
    const candidate = path.resolve(realRoot, stripLeadingSeparators(relative));
    // The file (and maybe some folders) do not exist yet: resolve the nearest existing ancestor.
    let existing = path.dirname(candidate);
    const rest: string[] = [path.basename(candidate)];
    for (;;) {
      try {
        existing = await fs.realpath(existing);
        break;
      } catch {
        const parent = path.dirname(existing);
        if (parent === existing) break;
        rest.unshift(path.basename(existing));
        existing = parent;
      }
    }
    const real = path.join(existing, ...rest);
    await this.check(real, realRoot, relative);
    return real;
  }

  /** True when `folder` (a real path) is inside one of the allowed folders. */
  async isAllowed(real: string): Promise<boolean> {
    for (const folder of await this.allowedFolders()) {
      const allowed = await fs.realpath(folder).catch(() => null);
      if (allowed && isInside(real, allowed)) return true;
    }
    return false;
  }

  // The messages go to the control plane with the job: they name the path as written and the
  // credential folder, not `real`, which would tell where a link points.
  private async check(real: string, realRoot: string, relative: string): Promise<void> {
    if (!isInside(real, realRoot)) {
      throw new OpenIrError(
        'LOCAL_PATH_NOT_ALLOWED',
        `The path "${relative}" leads outside the credential's folder ${realRoot}.`,
        { fix: 'Use a path inside the credential folder; ".." and links out of it are refused.' },
      );
    }
    if (!(await this.isAllowed(real))) {
      throw new OpenIrError(
        'LOCAL_PATH_NOT_ALLOWED',
        `Local folder path validation refused "${relative}" in ${realRoot}: it is not under a folder allowed on this node.`,
        {
          fix: `If jobs may use this folder, allow it on the node: \`openir config allow-folder ${realRoot}\` (see \`openir config show\`).`,
        },
      );
    }
  }

  private async realRoot(root: string): Promise<string> {
    try {
      return await fs.realpath(root);
    } catch (error) {
      throw new OpenIrError(
        'DATA_SOURCE_FAILED',
        `The credential folder ${root} does not exist on this node.`,
        {
          fix: 'Create the folder, or set the credential again with the right --root.',
          cause: error,
        },
      );
    }
  }
}

/**
 * Opens a new file for writing at `file` (a path from forWrite): O_EXCL and
 * O_NOFOLLOW, so neither an existing file nor a link there is written
 * through, then checked on the handle: a regular file, and where the kernel
 * reports it (Linux) in `dir`, the folder that was checked. Synchronous,
 * because a sink's open() returns its stream at once; it is one local open.
 */
export function openNewFileForWrite(file: string, dir: string, relative: string, mode = 0o640): number {
  let fd: number;
  try {
    fd = fsSync.openSync(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
  } catch (error) {
    throw openRefusal(error, relative, 'write');
  }
  try {
    if (!fsSync.fstatSync(fd).isFile()) throw notAFile(relative);
    const opened = handlePathSync(fd);
    if (opened !== null && path.dirname(opened) !== dir) {
      // O_EXCL made this file ours: remove it from wherever the swapped folder led.
      fsSync.rmSync(opened, { force: true });
      throw changedWhileOpening(relative);
    }
    return fd;
  } catch (error) {
    fsSync.closeSync(fd);
    throw error;
  }
}

/** The path the kernel has for an open file, where it says (Linux); null elsewhere. */
async function handlePath(fd: number): Promise<string | null> {
  if (process.platform !== 'linux') return null;
  return fs.readlink(`/proc/self/fd/${fd}`).catch(() => null);
}

function handlePathSync(fd: number): string | null {
  if (process.platform !== 'linux') return null;
  try {
    return fsSync.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

function openRefusal(error: unknown, relative: string, purpose: 'read' | 'write'): OpenIrError {
  const code = (error as NodeJS.ErrnoException).code;
  // O_NOFOLLOW on a link gives ELOOP (EMLINK on FreeBSD): said without the link's target.
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new OpenIrError(
      'LOCAL_PATH_NOT_ALLOWED',
      `The path "${relative}" is a symbolic link; jobs open only regular files, never through a link.`,
      { fix: 'Point the job at the file itself, inside the credential folder.' },
    );
  }
  const what =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EEXIST'
        ? 'exists already'
        : `cannot be opened (${code ?? 'error'})`;
  return new OpenIrError(
    purpose === 'read' ? 'DATA_SOURCE_FAILED' : 'DATA_SINK_FAILED',
    `The file "${relative}" ${what}.`,
    {
      fix:
        purpose === 'read'
          ? 'Check that the file exists and that the OpenIR host may read it.'
          : 'Check that the OpenIR host may write in the folder, and run the job again.',
      cause: error,
    },
  );
}

function notAFile(relative: string): OpenIrError {
  return new OpenIrError('LOCAL_PATH_NOT_ALLOWED', `The path "${relative}" is not a regular file.`, {
    fix: 'Point the job at a file, not a folder, device or pipe.',
  });
}

function changedWhileOpening(relative: string): OpenIrError {
  return new OpenIrError(
    'LOCAL_PATH_NOT_ALLOWED',
    `The path "${relative}" changed while it was being opened (a folder or link was swapped).`,
    { fix: 'Make sure nothing replaces files or folders in the credential folder while jobs run.' },
  );
}

export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Job paths are relative to the credential root even when written "/like/this". */
function stripLeadingSeparators(relative: string): string {
  return relative.replace(/^[/\\]+/, '');
}
