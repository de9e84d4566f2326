import { randomFillSync } from 'node:crypto';

/*
 * Packet buffers for ssh2's AES-GCM cipher (its native add-on), taken again
 * once the socket has written them. ssh2 allocates a fresh buffer for every
 * SSH packet (32 KiB of an SFTP upload each), and V8 runs a full GC for every
 * 64 MB of new buffers: on a 256 MB upload that was a sixth of the host's CPU.
 * It also asked the system's random source for each packet's 4-19 bytes of
 * padding; they now come from a 4 KiB reservoir of the same random bytes,
 * each byte used once.
 *
 * The hook touches two private parts of ssh2 (its Protocol's `_cipher` and
 * the `allocPacket` of the cipher class `AESGCMCipherBinding`), as
 * mysqlSource.ts does with mysql2's row parser. Should ssh2 change either,
 * nothing is hooked and ssh2 allocates as before (test/core/sftp.test.ts
 * checks that uploads take their packets from the pool).
 */

/** An SSH packet of 32 KiB channel data (the channel's maximum) with its headers, padding and tag fits. */
const PACKET_BYTES = 32 * 1024 + 128;
/** Buffers kept free: more than the writes in flight (512 KiB) and a socket's queue hold at once. */
const KEEP = 96;
const RANDOM_BYTES = 4096;
/** The cipher whose `allocPacket` the pool stands in for (its layout is the one written below). */
const HOOKED_CIPHER = 'AESGCMCipherBinding';

export class SshPacketPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly lent = new WeakSet<Buffer>();
  private random = Buffer.alloc(0);
  private randomAt = 0;
  /** Packets handed out from the pool, and handed back: for tests. */
  taken = 0;
  returned = 0;

  /**
   * ssh2's `AESGCMCipherBinding.allocPacket`: the packet length, the padding
   * length, room for the payload, random padding to a multiple of 16 (at
   * least 4 bytes), and 16 bytes for the tag the cipher writes in place.
   */
  allocPacket(payloadLength: number): Buffer {
    let packetLength = 4 + 1 + payloadLength;
    let padLength = 16 - ((packetLength - 4) & 15);
    if (padLength < 4) padLength += 16;
    packetLength += padLength;
    const size = packetLength + 16;
    let packet: Buffer;
    if (size <= PACKET_BYTES) {
      packet = Buffer.from(this.free.pop() ?? new ArrayBuffer(PACKET_BYTES), 0, size);
      this.lent.add(packet);
      this.taken += 1;
    } else packet = Buffer.allocUnsafe(size);
    packet.writeUInt32BE(packetLength - 4, 0);
    packet[4] = padLength;
    this.pad(packet, 5 + payloadLength, padLength);
    return packet;
  }

  /** Whether the socket should hand `chunk` back once written. */
  owns(chunk: unknown): chunk is Buffer {
    return Buffer.isBuffer(chunk) && this.lent.has(chunk);
  }

  /** The socket wrote every byte of `chunk`: its buffer may take another packet. */
  release(chunk: Buffer): void {
    if (!this.lent.delete(chunk)) return;
    this.returned += 1;
    if (this.free.length < KEEP) this.free.push(chunk.buffer as ArrayBuffer);
  }

  private pad(packet: Buffer, at: number, length: number): void {
    if (this.randomAt + length > this.random.length) {
      this.random = randomFillSync(Buffer.allocUnsafe(RANDOM_BYTES));
      this.randomAt = 0;
    }
    this.random.copy(packet, at, this.randomAt, this.randomAt + length);
    this.randomAt += length;
  }
}

/**
 * Has every AES-GCM cipher the connection of `client` takes (at the first key
 * exchange and at each rekey) allocate its packets from `pool`. Call it right
 * after `client.connect()`, which creates the protocol. Answers whether the
 * hook is in place.
 */
export function poolCipherPackets(client: object, pool: SshPacketPool): boolean {
  const protocol: unknown = Reflect.get(client, '_protocol');
  if (typeof protocol !== 'object' || protocol === null || !Object.hasOwn(protocol, '_cipher')) return false;
  let cipher: unknown = Reflect.get(protocol, '_cipher');
  Object.defineProperty(protocol, '_cipher', {
    configurable: true,
    enumerable: true,
    get: () => cipher,
    set: (next: unknown) => {
      cipher = next;
      if (
        typeof next === 'object' &&
        next !== null &&
        next.constructor.name === HOOKED_CIPHER &&
        typeof Reflect.get(next, 'allocPacket') === 'function'
      )
        Reflect.set(next, 'allocPacket', (payloadLength: number) => pool.allocPacket(payloadLength));
    },
  });
  return true;
}
