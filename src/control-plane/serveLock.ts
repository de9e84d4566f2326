import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { OpenIrError } from '../shared/errors';

const LOCK_FILE = 'serve.lock';
/** Locks this process holds: a lock naming our own pid is ours only if we took it (containers reuse pid 1). */
const heldHere = new Set<string>();

export interface ServeLock {
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One server per data dir: a second one would reset the first one's
 * connected nodes to Offline and overwrite the endpoint that new keys carry.
 * A lock left by a killed server names a dead pid and is taken over.
 */
export function acquireServeLock(dataDir: string, pid: number = process.pid): ServeLock {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(pid));
      closeSync(fd);
      heldHere.add(file);
      return {
        release: () => {
          if (heldHere.delete(file)) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    const held =
      holder === pid ? heldHere.has(file) : Number.isInteger(holder) && holder > 0 && isAlive(holder);
    if (held) {
      throw new OpenIrError(
        'CONTROL_PLANE_BUSY',
        `Another control plane (pid ${holder}) is already serving ${dataDir}.`,
        {
          fix: 'Stop it first, or give this one its own --data folder.',
        },
      );
    }
    rmSync(file, { force: true });
  }
  throw new OpenIrError('INVALID_INPUT', `Cannot take the lock file ${file}.`, {
    fix: 'Remove it if no control plane is running on this data folder.',
  });
}

/** The pid of the live server holding the data dir's lock (one starting or serving), else null. */
export function serveLockHolder(dataDir: string): number | null {
  let holder: number;
  try {
    holder = Number.parseInt(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').trim(), 10);
  } catch {
    return null;
  }
  return Number.isInteger(holder) && holder > 0 && isAlive(holder) ? holder : null;
}
