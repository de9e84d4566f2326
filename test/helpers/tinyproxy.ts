import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './node';
import { tempDir } from './tmp';

export interface Tinyproxy {
  port: number;
  url: string;
  /** CONNECT requests in its log so far. */
  connects(): string[];
  stop(): Promise<void>;
}

export const tinyproxyAvailable =
  spawnSync('sh', ['-c', 'command -v tinyproxy'], { stdio: 'ignore' }).status === 0;

const running: ChildProcess[] = [];

/** A real tinyproxy in the foreground on a free loopback port; its log proves what went through it. */
export async function startTinyproxy(opts: {
  connectPorts: number[];
  basicAuth?: { user: string; password: string };
}): Promise<Tinyproxy> {
  const dir = tempDir('openir-tinyproxy-');
  const port = await freePort();
  const log = path.join(dir, 'tinyproxy.log');
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Allow 127.0.0.1',
    ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
    `LogFile "${log}"`,
    'LogLevel Info',
    'MaxClients 50',
    'Timeout 60',
    ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : []),
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'tinyproxy.conf'), `${conf}\n`);
  const child = spawn('tinyproxy', ['-d', '-c', path.join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  running.push(child);
  for (let i = 0; i < 50; i += 1) {
    if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('listening')) break;
    if (child.exitCode !== null) throw new Error('tinyproxy exited');
    await sleep(100);
  }
  await sleep(100);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connects: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .split('\n')
            .filter((line) => /Request .*: CONNECT /.test(line))
        : [],
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    },
  };
}

export async function stopAllTinyproxies(): Promise<void> {
  for (const child of running.splice(0)) {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
