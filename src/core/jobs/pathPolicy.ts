import fs from 'node:fs/promises';
import path from 'node:path';
import { OpenIrError } from '../../shared/errors';

/**
 * Local folder path validation (the reference product's
 * `-EnableLocalFolderPathValidation`, always on here): a job may only touch
 * files under a folder the node's administrator allowed, so a job queued in the
 * cloud cannot read this machine's own disk. Paths are resolved to real paths
 * (symlinks followed, `..` collapsed) before the check, and the resolved path
 * is the one the job opens, so what is checked is what is used.
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

  private async check(real: string, realRoot: string, relative: string): Promise<void> {
    if (!isInside(real, realRoot)) {
      throw new OpenIrError(
        'LOCAL_PATH_NOT_ALLOWED',
        `The path "${relative}" leads outside the credential's folder ${realRoot} (to ${real}).`,
        { fix: 'Use a path inside the credential folder; ".." and links out of it are refused.' },
      );
    }
    if (!(await this.isAllowed(real))) {
      throw new OpenIrError(
        'LOCAL_PATH_NOT_ALLOWED',
        `Local folder path validation refused ${real}: it is not under a folder allowed on this node.`,
        {
          fix: `If jobs may use this folder, allow it on the node: \`openir config allow-folder ${path.dirname(real)}\` (see \`openir config show\`).`,
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

export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Job paths are relative to the credential root even when written "/like/this". */
function stripLeadingSeparators(relative: string): string {
  return relative.replace(/^[/\\]+/, '');
}
