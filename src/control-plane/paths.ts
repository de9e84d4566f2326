import { chmodSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

export const DB_FILE = 'control-plane.db';
export const DATA_DIR_ENV = 'OPENIR_CONTROL_PLANE_HOME';

export interface DataDirContext {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
}

const processContext = (): DataDirContext => ({
  env: process.env,
  platform: process.platform,
  home: homedir(),
});

/** The platform's per-user data folder, where a control plane keeps its state unless told otherwise. */
export function platformDataDir(ctx: DataDirContext): string {
  switch (ctx.platform) {
    case 'win32':
      return path.win32.join(
        ctx.env.APPDATA || path.win32.join(ctx.home, 'AppData', 'Roaming'),
        'OpenIR Control Plane',
      );
    case 'darwin':
      return path.posix.join(ctx.home, 'Library', 'Application Support', 'OpenIR Control Plane');
    default:
      return path.posix.join(
        ctx.env.XDG_DATA_HOME || path.posix.join(ctx.home, '.local', 'share'),
        'openir-control-plane',
      );
  }
}

/** `--data DIR` wins, then $OPENIR_CONTROL_PLANE_HOME (so tests can run several side by side), then the platform folder. */
export function resolveDataDir(flag: string | undefined, ctx: DataDirContext = processContext()): string {
  if (flag) return path.resolve(flag);
  const fromEnv = ctx.env[DATA_DIR_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  return platformDataDir(ctx);
}

/**
 * The folder holds the TLS private key and the database: only its owner may
 * enter it, also when it existed before (mkdir's mode applies only to a new
 * folder, and the umask may have widened an old one).
 */
export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') chmodSync(dir, 0o700);
}

export function dbPath(dataDir: string): string {
  return path.join(dataDir, DB_FILE);
}
