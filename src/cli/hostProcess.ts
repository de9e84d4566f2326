import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OpenIrError } from '../shared/errors';
import type { DataPaths } from '../core/paths';
import type { HostClient } from './client';

const START_TIMEOUT_MS = 20_000;

/**
 * Starts the host in the background for this data directory unless one
 * already answers, and waits until its socket does. The child gets no secret
 * in its arguments or environment; its output goes to logs/host.out.
 */
export async function ensureHostRunning(
  paths: DataPaths,
  client: HostClient,
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  if (await client.isRunning()) return false;
  fs.mkdirSync(paths.logsDir, { recursive: true, mode: 0o700 });
  const outFile = path.join(paths.logsDir, 'host.out');
  const out = fs.openSync(outFile, 'a', 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, 'main.js'), 'serve', '--background'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...env, OPENIR_HOME: paths.home },
    windowsHide: true,
  });
  fs.closeSync(out);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new OpenIrError(
        'HOST_NOT_RUNNING',
        `The OpenIR host exited while starting: ${lastLine(outFile)}`,
        {
          fix: `See ${outFile}.`,
        },
      );
    }
    if (await client.isRunning()) return true;
    await sleep(100);
  }
  throw new OpenIrError('TIMEOUT', `The OpenIR host did not start within ${START_TIMEOUT_MS / 1000} s.`, {
    fix: `See ${outFile}.`,
  });
}

function lastLine(file: string): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    return lines[lines.length - 1] ?? 'no output';
  } catch {
    return 'no output';
  }
}

/** Ends a background host by its pid file; resolves when it is gone (bounded). */
export async function stopHostProcess(paths: DataPaths): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  for (let i = 0; i < 100; i += 1) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await sleep(100);
  }
  return false;
}
