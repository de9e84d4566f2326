import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminApiClient } from '../../src/control-plane/apiClient';
import type { JobView } from '../../src/control-plane/jobStore';

/**
 * Starts the real reference control plane (the built `dist/control-plane/main.js`)
 * as a child process, the way a node meets it in production. Run
 * `npx tsc -p tsconfig.build.json` first.
 */

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const CONTROL_PLANE_MAIN = path.join(REPO_ROOT, 'dist', 'control-plane', 'main.js');

const READY_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 10_000;
const ADMIN_TIMEOUT_MS = 30_000;

export interface StartControlPlaneOptions {
  /** Reuse a data dir (e.g. to restart); by default a fresh temp dir, removed by stopAll(). */
  dataDir?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** More `serve` arguments, e.g. ['--public-endpoint', 'https://cp.test:9443']. */
  extraArgs?: string[];
  /** More environment, e.g. the test-only OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS. */
  env?: NodeJS.ProcessEnv;
}

export interface CliResult<T = unknown> {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined when it is not JSON. */
  json: T;
}

export interface RunningControlPlane {
  endpoint: string;
  port: number;
  pin: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server wrote to stderr so far (its request log). */
  stderr(): string;
  /** SIGTERM, then waits for exit (SIGKILL after 10 s); resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would; waits for exit. */
  kill(): Promise<void>;
  /** `openir-control-plane <args> --data <dataDir> --json`. */
  admin<T = unknown>(args: readonly string[]): Promise<CliResult<T>>;
  /** `ir create <name> [args]`: the new IR and its two keys; throws when the command fails. */
  createIr(name: string, args?: readonly string[]): Promise<CreatedIr>;
  /** `admin`, answering its JSON; throws (with stderr) when the command fails. */
  adminOk<T = unknown>(args: readonly string[]): Promise<T>;
  /**
   * One request to the admin API from this process (`/api/v1/admin<route>`), with the
   * instance-admin token, as the admin CLI sends it; answers the JSON. No CLI process.
   */
  adminApi<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', route: string, body?: unknown): Promise<T>;
  /**
   * `GET /jobs/<id>` of the admin API (what `job show <id>` prints), polled every `pollMs` (100)
   * until `predicate` holds; throws with the last view past `timeoutMs`. The request goes from
   * this process, as the admin CLI would send it: a CLI process per poll took a third of a CPU
   * second each, from the job a bench was timing.
   */
  waitJob(
    id: string,
    predicate: (job: JobView) => boolean,
    timeoutMs?: number,
    pollMs?: number,
  ): Promise<JobView>;
}

export interface CreatedIr {
  irId: string;
  name: string;
  key1: string;
  key2: string;
}

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export async function makeTempDir(prefix = 'openir-cp-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function startControlPlane(
  options: StartControlPlaneOptions = {},
): Promise<RunningControlPlane> {
  const dataDir = options.dataDir ?? (await makeTempDir());
  const args = [
    CONTROL_PLANE_MAIN,
    'serve',
    '--port',
    String(options.port ?? 0),
    '--data',
    dataDir,
    '--json',
  ];
  if (options.heartbeatIntervalMs !== undefined)
    args.push('--heartbeat-interval-ms', String(options.heartbeatIntervalMs));
  if (options.heartbeatTimeoutMs !== undefined)
    args.push('--heartbeat-timeout-ms', String(options.heartbeatTimeoutMs));
  args.push(...(options.extraArgs ?? []));

  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  const ready = await new Promise<{ endpoint: string; port: number; pin: string }>((resolve, reject) => {
    let stdout = '';
    const onExit = (code: number | null) => fail(`exited with code ${code}`);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`Control plane did not start: ${why}\nstderr:\n${stderr}\nstdout:\n${stdout}`));
    };
    const timer = setTimeout(() => fail(`no JSON line within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('exit', onExit);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.includes('\n')) return;
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      try {
        resolve(JSON.parse(stdout.slice(0, newline)) as { endpoint: string; port: number; pin: string });
      } catch {
        fail('the first stdout line is not JSON');
      }
    });
  });

  const waitForExit = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  // The local server and the instance-admin token, found as the admin CLI finds them (admin-api.json).
  const localClient = () =>
    AdminApiClient.connect({}, { env: {}, readStdin: () => Promise.resolve(''), dataDir: () => dataDir });

  const adminOk = async <T>(adminArgs: readonly string[]): Promise<T> => {
    const result = await runControlPlaneCli<T>([...adminArgs, '--data', dataDir, '--json']);
    if (result.code !== 0) throw new Error(`${adminArgs.join(' ')} failed: ${result.stderr}`);
    return result.json;
  };

  return {
    ...ready,
    dataDir,
    process: child,
    stderr: () => stderr,
    stop: () => waitForExit('SIGTERM'),
    kill: async () => {
      await waitForExit('SIGKILL');
    },
    admin: <T>(adminArgs: readonly string[]) =>
      runControlPlaneCli<T>([...adminArgs, '--data', dataDir, '--json']),
    adminOk,
    adminApi: async <T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', route: string, body?: unknown) =>
      (await (await localClient()).json(method, route, body)) as T,
    waitJob: async (id, predicate, timeoutMs = 30_000, pollMs = 100) => {
      const deadline = Date.now() + timeoutMs;
      const client = await localClient();
      const show = async () => (await client.json('GET', `/jobs/${encodeURIComponent(id)}`)) as JobView;
      let job = await show();
      while (!predicate(job)) {
        if (Date.now() > deadline) throw new Error(`job never matched; last: ${JSON.stringify(job)}`);
        await sleep(pollMs);
        job = await show();
      }
      return job;
    },
    createIr: async (name: string, args: readonly string[] = []) => {
      const created = await runControlPlaneCli<CreatedIr>([
        'ir',
        'create',
        name,
        ...args,
        '--data',
        dataDir,
        '--json',
      ]);
      if (created.code !== 0) throw new Error(`ir create ${name} failed: ${created.stderr}`);
      return created.json;
    },
  };
}

/** Runs `node dist/control-plane/main.js <args>` to completion (bounded) and parses stdout as JSON when it is JSON. */
export function runControlPlaneCli<T = unknown>(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  /** Written to its stdin (e.g. a token for --token-stdin); stdin is closed when absent. */
  input?: string,
): Promise<CliResult<T>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CONTROL_PLANE_MAIN, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin?.end(input);
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`openir-control-plane ${args.join(' ')} did not finish within ${ADMIN_TIMEOUT_MS} ms`),
      );
    }, ADMIN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json: json as T });
    });
  });
}

/** For afterAll: kills every process this helper started and removes the temp dirs it made. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  running.clear();
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}
