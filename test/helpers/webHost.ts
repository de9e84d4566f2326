import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { rawRequest } from './http';
import { ROOT, runCli } from './node';
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
  /** A fresh one-time link from `openir ui-url` (the printed URL works only once). */
  signInUrl(): Promise<string>;
  /** Signs in with a fresh link and returns the `Cookie` header value of the new session. */
  signIn(): Promise<string>;
  stop(): Promise<void>;
}

/** `name=value` of the session cookie a sign-in answer sets (throws when there is none). */
export function sessionCookieOf(headers: { 'set-cookie'?: string[] }): string {
  const cookie = headers['set-cookie']?.find((c) => c.startsWith('openir_session_'))?.split(';')[0];
  if (!cookie) throw new Error(`no session cookie in ${JSON.stringify(headers['set-cookie'])}`);
  return cookie;
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
  const signInUrl = async () => {
    const res = await runCli(['ui-url', '--json'], { env });
    if (res.code !== 0) throw new Error(`openir ui-url failed: ${res.stderr}`);
    return (res.json as { url: string }).url;
  };
  return {
    url: info.webUrl,
    origin: url.origin,
    token: url.searchParams.get('token') ?? '',
    port: Number(url.port),
    home,
    env,
    process: child,
    output: () => stdout + stderr,
    signInUrl,
    signIn: async () => {
      const res = await rawRequest(await signInUrl());
      if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${res.body}`);
      return sessionCookieOf(res.headers);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
