import os from 'node:os';
import path from 'node:path';

/** Where one node keeps everything. One IR per data directory. */
export interface DataPaths {
  home: string;
  config: string;
  logsDir: string;
  logFile: string;
  vaultDir: string;
  runDir: string;
  /** Local API endpoint on Linux and macOS: a Unix socket in a 0700 folder (Windows: see `pipeNameFile`). */
  socket: string;
  /** Windows: names the host's pipe, random at each start (core/localEndpoint); read through `localEndpoint()`. */
  pipeNameFile: string;
  pidFile: string;
}

export function defaultHome(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.OPENIR_HOME) return path.resolve(env.OPENIR_HOME);
  const home = os.homedir();
  switch (platform) {
    case 'win32':
      return path.join(env.PROGRAMDATA ?? env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'OpenIR');
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'OpenIR');
    default:
      return path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'openir');
  }
}

export function dataPaths(home: string, platform: NodeJS.Platform = process.platform): DataPaths {
  const runDir = path.join(home, 'run');
  return {
    home,
    config: path.join(home, 'config.json'),
    logsDir: path.join(home, 'logs'),
    logFile: path.join(home, 'logs', 'openir.log'),
    vaultDir: path.join(home, 'vault'),
    runDir,
    // On Windows there is no socket file; a path that is never a pipe, so an old caller fails closed.
    socket: platform === 'win32' ? path.join(runDir, 'pipe-name') : path.join(runDir, 'host.sock'),
    pipeNameFile: path.join(runDir, 'pipe-name'),
    pidFile: path.join(runDir, 'host.pid'),
  };
}

export function machineFqdn(env: NodeJS.ProcessEnv = process.env): string {
  return env.OPENIR_FQDN?.trim() || os.hostname();
}
