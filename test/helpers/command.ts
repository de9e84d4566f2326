import { spawn } from 'node:child_process';
import os from 'node:os';

/** How long a server tool (initdb, pg_ctl, mariadb-install-db, psql, mariadb…) may take. */
const COMMAND_TIMEOUT_MS = 120_000;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end with `input` on stdin, collecting its output; a
 * command that does not finish in two minutes is killed and rejects. Shared by
 * the PostgreSQL and MariaDB helpers. `label` names it in that error.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; label?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? os.tmpdir(),
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${options.label ?? `${file} ${args.join(' ')}`} did not finish within ${COMMAND_TIMEOUT_MS} ms`,
        ),
      );
    }, COMMAND_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // Commands that read no stdin (pg_ctl) may close it first.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
