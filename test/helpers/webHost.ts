import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './node';
import { tempDir } from './tmp';

export interface WebHost {
  url: string;
  origin: string;
  token: string;
  port: number;
  home: string;
  env: NodeJS.ProcessEnv;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts the real `openir serve` with its web UI on a free loopback port. */
export async function startWebHost(
  extraEnv: NodeJS.ProcessEnv = {},
  extraArgs: readonly string[] = [],
): Promise<WebHost> {
  const home = tempDir('openir-web-');
  const env = {
    ...process.env,
    OPENIR_HOME: home,
    OPENIR_FQDN: 'web-node.openir.test',
    OPENIR_RECONNECT_MIN_MS: '100',
    OPENIR_RECONNECT_MAX_MS: '500',
    ...extraEnv,
  };
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist', 'cli', 'main.js'), 'serve', '--web-port', '0', '--json', ...extraArgs],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const info = await new Promise<{ webUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`openir serve did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      try {
        const parsed = JSON.parse(stdout) as { webUrl: string };
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // wait for the rest of the JSON document
      }
    });
    child.once('exit', (code) => reject(new Error(`openir serve exited ${code}: ${stderr}`)));
  });
  const url = new URL(info.webUrl);
  return {
    url: info.webUrl,
    origin: url.origin,
    token: url.searchParams.get('token') ?? '',
    port: Number(url.port),
    home,
    env,
    process: child,
    output: () => stdout + stderr,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
