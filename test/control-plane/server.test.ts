import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseAuthKey } from '../../src/shared/authKey';
import { CONTROL_PLANE_PATHS, channelAuthorization } from '../../src/shared/controlPlaneApi';
import { createIr, openAdminSession } from '../../src/control-plane/admin';
import type { Logger } from '../../src/control-plane/log';
import { ControlPlaneServer } from '../../src/control-plane/server';
import { makeTempDir, stopAll } from '../helpers/controlPlane';
import { httpsJson, registerOk } from './support';

afterAll(stopAll);

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}

describe('ControlPlaneServer (in-process)', () => {
  it('starts on a free port, serves HTTPS with its pin, records its identity, and closes idempotently', async () => {
    const dataDir = await makeTempDir();
    const log = memoryLogger();
    const cp = await ControlPlaneServer.start({
      dataDir,
      port: 0,
      host: '127.0.0.1',
      publicEndpoint: 'https://cp.example.test:9443',
      log,
    });
    try {
      expect(cp.port).toBeGreaterThan(0);
      expect(cp.endpoint).toBe('https://cp.example.test:9443');
      const health = await httpsJson(`https://127.0.0.1:${cp.port}`, 'GET', CONTROL_PLANE_PATHS.health);
      expect(health).toMatchObject({ status: 200, pin: cp.pin });

      const unknown = await httpsJson(`https://127.0.0.1:${cp.port}`, 'GET', '/api/v1/nope?token=abc');
      expect(unknown.status).toBe(404);
      expect(log.lines.some((line) => line.includes('GET /api/v1/nope 404'))).toBe(true);
      expect(log.lines.some((line) => line.includes('token=abc'))).toBe(false);

      const session = openAdminSession(dataDir);
      try {
        const created = createIr(session, 'in-proc', 4).json as { key1: string };
        expect(parseAuthKey(created.key1)).toMatchObject({
          endpoint: 'https://cp.example.test:9443',
          pin: cp.pin,
        });
      } finally {
        session.close();
      }
    } finally {
      await cp.close();
      await cp.close();
    }
    expect(log.lines.at(-1)).toBe('INFO Control plane stopped');
  });

  it('refuses a port already in use with CONTROL_PLANE_BUSY, and bad heartbeat timings', async () => {
    const dataDir = await makeTempDir();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(ControlPlaneServer.start({ dataDir, port, host: '127.0.0.1' })).rejects.toMatchObject({
        code: 'CONTROL_PLANE_BUSY',
        message: expect.stringContaining('already in use'),
      });
    } finally {
      blocker.close();
    }
    await expect(
      ControlPlaneServer.start({ dataDir, port: 0, heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 5_000 }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('refuses a second server on the same data dir, and frees it on close', async () => {
    const dataDir = await makeTempDir();
    const first = await ControlPlaneServer.start({ dataDir, port: 0 });
    try {
      await expect(ControlPlaneServer.start({ dataDir, port: 0 })).rejects.toMatchObject({
        code: 'CONTROL_PLANE_BUSY',
        message: expect.stringContaining('already serving'),
      });
    } finally {
      await first.close();
    }
    const second = await ControlPlaneServer.start({ dataDir, port: 0 });
    expect(second.pin).toBe(first.pin);
    await second.close();
  });

  it('drops a channel whose peer stops answering pings, even while heartbeats arrive', async () => {
    const dataDir = await makeTempDir();
    const log = memoryLogger();
    const cp = await ControlPlaneServer.start({
      dataDir,
      port: 0,
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 10_000,
      log,
    });
    try {
      const session = openAdminSession(dataDir);
      const key = (createIr(session, 'pings', 4).json as { key1: string }).key1;
      session.close();
      const reg = await registerOk(key, { nodeName: 'mute' });

      const socket = new WebSocket(`wss://127.0.0.1:${cp.port}${CONTROL_PLANE_PATHS.channel}`, {
        headers: { Authorization: channelAuthorization(reg.nodeId, reg.nodeCredential) },
        rejectUnauthorized: false,
        autoPong: false,
      });
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const beat = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(
            JSON.stringify({
              type: 'heartbeat',
              runningJobs: 0,
              jobLimit: 1,
              cpuPercent: 0,
              memoryUsedBytes: 0,
              memoryTotalBytes: 1,
              peersReachable: true,
            }),
          );
        }
      }, 50);
      const code = await Promise.race([
        closed,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('not dropped within 5 s')), 5_000),
        ),
      ]).finally(() => clearInterval(beat));
      expect(code).toBe(1006);
      expect(log.lines.some((line) => line.includes("Node 'mute' did not answer a ping"))).toBe(true);
    } finally {
      await cp.close();
    }
  });
});
