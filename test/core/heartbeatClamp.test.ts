import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ControlChannel } from '../../src/core/controlChannel';
import { OpenIrError } from '../../src/shared/errors';
import { clampHeartbeat, HEARTBEAT_LIMITS } from '../../src/shared/controlPlaneApi';

/**
 * A node clamps the heartbeat timings it is sent (security review): a control
 * plane, or whoever answers in its place, must not make it flood heartbeats
 * or wait an hour to notice a dead channel.
 */
describe('heartbeat timings a node accepts', () => {
  it('keeps sane timings and clamps the rest', () => {
    expect(clampHeartbeat({ heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 15000 })).toEqual({
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 15000,
      clamped: false,
    });
    expect(clampHeartbeat({ heartbeatIntervalMs: 1, heartbeatTimeoutMs: 2 })).toEqual({
      heartbeatIntervalMs: HEARTBEAT_LIMITS.minIntervalMs,
      heartbeatTimeoutMs: HEARTBEAT_LIMITS.minTimeoutMs,
      clamped: true,
    });
    expect(clampHeartbeat({ heartbeatIntervalMs: 3_600_000, heartbeatTimeoutMs: 86_400_000 })).toEqual({
      heartbeatIntervalMs: HEARTBEAT_LIMITS.maxIntervalMs,
      heartbeatTimeoutMs: HEARTBEAT_LIMITS.maxTimeoutMs,
      clamped: true,
    });
    // The timeout is at least two intervals.
    expect(
      clampHeartbeat({ heartbeatIntervalMs: 10_000, heartbeatTimeoutMs: 11_000 }).heartbeatTimeoutMs,
    ).toBe(20_000);
  });

  let server: WebSocketServer | null = null;
  let channel: ControlChannel | null = null;
  afterEach(async () => {
    await channel?.stop();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('a welcome asking for a heartbeat every millisecond gets one every 100 ms, and a warning', async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server?.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    let heartbeats = 0;
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'heartbeat') heartbeats += 1;
      });
      socket.send(
        JSON.stringify({
          type: 'welcome',
          nodeId: 'n-1',
          heartbeatIntervalMs: 1,
          heartbeatTimeoutMs: 2,
          ir: { irId: 'ir-1', name: 'ir', status: 'Online', nodes: [] },
        }),
      );
    });
    const warnings: string[] = [];
    const log = {
      info: () => undefined,
      warn: (message: string) => void warnings.push(message),
      error: () => undefined,
      debug: () => undefined,
    };
    channel = new ControlChannel({
      endpoint: `https://127.0.0.1:${port}`,
      // Plain TCP stands in for the pinned TLS connection: the timings are what is tested.
      createConnection: (() => net.connect({ host: '127.0.0.1', port })) as never,
      nodeId: 'n-1',
      credential: 'c',
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 15000,
      reconnectMinMs: 1000,
      reconnectMaxMs: 1000,
      heartbeat: () => ({ version: '0.1.0', jobs: { running: 0, limit: 1 } }) as never,
      log: log as never,
      onState: () => undefined,
      credentialRejected: () => new OpenIrError('UNAUTHORIZED', 'no'),
      duplicateNode: () => new OpenIrError('DUPLICATE_NODE', 'dup'),
      onIrSummary: () => undefined,
    });
    channel.start();
    await sleep(1000);
    // Unclamped, a 1 ms interval sends hundreds in a second; clamped to 100 ms, about ten.
    expect(heartbeats).toBeGreaterThan(2);
    expect(heartbeats).toBeLessThanOrEqual(15);
    expect(warnings.join('\n')).toContain('heartbeat timings out of bounds');
  });
});
