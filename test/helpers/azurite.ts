import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, freePort } from './node';
import { tempDir } from './tmp';

/**
 * Azurite, Microsoft's Azure Storage emulator (npm `azurite`), blob service
 * only, on a free loopback port with a private --location dir. Always with
 * --disableTelemetry (else it reaches outside) and --skipApiVersionCheck (the
 * SDK's API version is newer than Azurite knows). Started from
 * node_modules/.bin directly, not npx, so the pid is Azurite's own.
 */

/** Azurite's well-known development account (its README). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const BIN = path.join(ROOT, 'node_modules', '.bin', 'azurite-blob');
export const azuriteAvailable = fs.existsSync(BIN);

export interface Azurite {
  port: number;
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  accountUrl: string;
  location: string;
  /** Azurite's own process (a bench reads its CPU time). */
  pid: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** With `tls`, Azurite serves HTTPS with that certificate and key (PEM files); the account URL is https. */
export async function startAzurite(opts: { tls?: { cert: string; key: string } } = {}): Promise<Azurite> {
  const location = tempDir('openir-azurite-');
  const port = await freePort();
  const child = spawn(
    BIN,
    [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      location,
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
      ...(opts.tls ? ['--cert', opts.tls.cert, '--key', opts.tls.key] : []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`azurite-blob exited (${child.exitCode}): ${stderr}`);
    if (await listening(port)) break;
    if (Date.now() > deadline) throw new Error(`azurite-blob did not listen on ${port}: ${stderr}`);
    await sleep(100);
  }
  return {
    port,
    accountUrl: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    location,
    pid: child.pid ?? NaN,
    stop: () => stopChild(child),
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export async function stopAllAzurites(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
}

/**
 * `openir credential set <name> --type azureBlob …` for this Azurite with the account key, which
 * comes from standard input (`--secret-stdin`): pass `AZURITE_KEY` plus a newline as stdin.
 */
export function blobCredentialArgs(
  name: string,
  azurite: Pick<Azurite, 'accountUrl'>,
  { container = 'exports', json = false } = {},
): string[] {
  return [
    'credential',
    'set',
    name,
    '--type',
    'azureBlob',
    '--account-url',
    azurite.accountUrl,
    '--container',
    container,
    '--auth',
    'key',
    '--secret-stdin',
    ...(json ? ['--json'] : []),
  ];
}
