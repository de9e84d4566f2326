import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Admin commands write jobs straight into the database; this local socket is
 * how they tell a running server to look (dispatch a new job, push a cancel)
 * at once instead of the server polling the database. It carries no data, so
 * a connection is the whole message, and only users who can enter the 0700
 * data directory can reach it.
 */
export function wakeSocketPath(dataDir: string, platform: NodeJS.Platform = process.platform): string {
  const id = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  if (platform === 'win32') return `\\\\.\\pipe\\openir-control-plane-${id}`;
  const inDataDir = path.join(dataDir, 'wake.sock');
  // Unix socket paths are limited to about 104 bytes.
  return Buffer.byteLength(inDataDir) < 100 ? inDataDir : path.join(tmpdir(), `openir-cp-${id}.sock`);
}

export interface WakeListener {
  close(): Promise<void>;
}

/** Only one server runs per data dir (the serve lock), so a socket file left by a crash is stale. */
export async function listenForWake(dataDir: string, onWake: () => void): Promise<WakeListener> {
  const where = wakeSocketPath(dataDir);
  if (process.platform !== 'win32') rmSync(where, { force: true });
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    try {
      onWake();
    } finally {
      socket.end('ok\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/** True when a running server heard it; false when none runs (the job waits in the queue for it). */
export function sendWake(dataDir: string, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(wakeSocketPath(dataDir));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    const done = (heard: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(heard);
    };
    socket.once('error', () => done(false));
    socket.once('data', () => done(true));
    socket.once('end', () => done(true));
  });
}
