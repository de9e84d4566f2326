import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

export type RelayDirection = 'up' | 'down';

export interface CuttingRelay {
  port: number;
  /**
   * Cuts once, in `direction`, the connection that crosses `bytes`: counted on
   * that connection alone (`perConnection`), or over every connection since
   * this call. With `settleMs`, the relay stops forwarding at that byte and
   * cuts only after that pause, so the server has taken in what crossed
   * before the cut (a cut under CPU load otherwise finds it still in socket
   * buffers, and the server kept nothing).
   */
  arm(
    bytes: number,
    options?: { direction?: RelayDirection; perConnection?: boolean; settleMs?: number },
  ): void;
  /** How many connections were cut. */
  cuts(): number;
  close(): void;
}

/**
 * A TCP relay on 127.0.0.1 in front of a real server, that drops a
 * connection mid-stream on request: how the retry and resume of a copy are
 * tested against real ends. `observeUp` sees every chunk sent upstream (to
 * count requests, say).
 */
export async function startCuttingRelay(
  target: () => number,
  observeUp: (chunk: Buffer) => void = () => undefined,
): Promise<CuttingRelay> {
  let armed: {
    bytes: number;
    direction: RelayDirection;
    perConnection: boolean;
    settleMs: number;
  } | null = null;
  const total = { up: 0, down: 0 };
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target(), '127.0.0.1');
    sockets.add(client).add(upstream);
    const own = { up: 0, down: 0 };
    let cutting = false;
    const counter = (direction: RelayDirection) =>
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          // Cut, waiting for the settle pause: nothing more crosses.
          if (cutting) return callback();
          own[direction] += chunk.length;
          total[direction] += chunk.length;
          if (direction === 'up') observeUp(chunk);
          const cut = armed?.direction === direction ? armed : null;
          if (cut && (cut.perConnection ? own[direction] : total[direction]) > cut.bytes) {
            armed = null;
            cuts += 1;
            cutting = true;
            setTimeout(() => {
              client.destroy();
              upstream.destroy();
            }, cut.settleMs);
            return callback();
          }
          callback(null, chunk);
        },
      });
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(counter('up')).pipe(upstream);
    upstream.pipe(counter('down')).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    arm(bytes, { direction = 'up', perConnection = false, settleMs = 0 } = {}) {
      total[direction] = 0;
      armed = { bytes, direction, perConnection, settleMs };
    },
    cuts: () => cuts,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
