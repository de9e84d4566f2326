import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './tmp';

export const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: unknown;
}

/** Runs the real `openir` CLI as a separate process, secrets only on stdin. */
export function runCli(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`openir ${args.join(' ')} timed out\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown = null;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = null;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

export interface TestNode {
  home: string;
  env: NodeJS.ProcessEnv;
  process: ChildProcess | null;
  cli(args: string[], stdin?: string): Promise<CliResult>;
  /** Starts `openir serve` in the foreground as a real host process and waits for its socket. */
  startHost(): Promise<ChildProcess>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  waitForStatus(predicate: (status: StatusJson) => boolean, timeoutMs?: number): Promise<StatusJson>;
  /**
   * Enables remote access without TLS on a free loopback port (the host must be running):
   * the control plane lets a second node join an IR only while the others have it.
   */
  enableRemoteAccess(): Promise<number>;
  output(): string;
}

export interface StatusJson {
  status: string;
  registered: boolean;
  node: { id: string; name: string } | null;
  ir: { id: string; name: string } | null;
  lastError: { code: string; message: string } | null;
  irNodes: { name: string; status: string }[];
  vault: { id: string; strength: string };
  host: { pid: number };
}

const nodes: TestNode[] = [];

export function makeNode(extraEnv: NodeJS.ProcessEnv = {}, name = `node${nodes.length + 1}`): TestNode {
  const home = tempDir('openir-node-');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENIR_HOME: home,
    OPENIR_FQDN: `${name}.openir.test`,
    OPENIR_RECONNECT_MIN_MS: '100',
    // Peers reach each other on loopback: the test FQDNs are not in DNS.
    OPENIR_REMOTE_ACCESS_BIND: '127.0.0.1',
    OPENIR_ADVERTISE_HOST: '127.0.0.1',
    OPENIR_RECONNECT_MAX_MS: '500',
    ...extraEnv,
  };
  let output = '';
  const node: TestNode = {
    home,
    env,
    process: null,
    cli: (args, stdin) => runCli(args, { env, ...(stdin === undefined ? {} : { stdin }) }),
    output: () => output,
    async startHost() {
      const child = spawn(process.execPath, [CLI, 'serve', '--no-web'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      node.process = child;
      const socket = path.join(home, 'run', 'host.sock');
      for (let i = 0; i < 150; i += 1) {
        if (child.exitCode !== null) throw new Error(`host exited: ${output}`);
        if (fs.existsSync(socket) && (await canConnect(socket))) return child;
        await sleep(100);
      }
      throw new Error(`host did not start: ${output}`);
    },
    async kill(signal = 'SIGTERM') {
      const child = node.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await Promise.race([exited, sleep(10_000)]);
    },
    async enableRemoteAccess() {
      const port = await freePort();
      const result = await node.cli([
        'remote-access',
        'enable',
        '--no-tls',
        '--port',
        String(port),
        '--json',
      ]);
      if (result.code !== 0) throw new Error(`remote-access enable: ${result.stderr}${result.stdout}`);
      return port;
    },
    async waitForStatus(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: StatusJson | null = null;
      while (Date.now() < deadline) {
        const result = await node.cli(['status', '--json']);
        last = result.json as StatusJson;
        if (result.code === 0 && last && predicate(last)) return last;
        await sleep(150);
      }
      throw new Error(`status never matched; last: ${JSON.stringify(last)}`);
    },
  };
  nodes.push(node);
  return node;
}

/** Ends every host started by the tests, including background ones started by the CLI. */
export async function stopAllNodes(): Promise<void> {
  for (const node of nodes.splice(0)) {
    await node.kill('SIGKILL');
    const pidFile = path.join(node.home, 'run', 'host.pid');
    try {
      process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // not running
    }
  }
}

function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/** A loopback port with nothing listening on it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Reads a process's argv and environment from /proc (Linux), for the no-secrets-in-argv checks. */
export function processArgsAndEnv(pid: number): string {
  try {
    return ['cmdline', 'environ'].map((f) => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8')).join('\n');
  } catch {
    return '';
  }
}
