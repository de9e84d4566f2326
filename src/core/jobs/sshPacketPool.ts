import { randomFillSync } from 'node:crypto';
import { ChunkPool } from './chunkPool';

/*
 * Packet buffers for ssh2's AES-GCM cipher (its native add-on), taken again
 * once the socket has written them. ssh2 allocates a fresh buffer for every
 * SSH packet (32 KiB of an SFTP upload each), and V8 runs a full GC for every
 * 64 MB of new buffers: on a 256 MB upload that was a sixth of the host's CPU.
 * It also asked the system's random source for each packet's 4-19 bytes of
 * padding; they now come from a 4 KiB reservoir of the same random bytes,
 * each byte used once.
 *
 * Downloads had the same cost on the way in: ssh2 assembles each SFTP reply
 * that spans several SSH packets (every 248 KiB read) in a new buffer, then
 * copies it into the reader's. `reuseSftpReplyBuffer` has it assemble the
 * large ones in one buffer it reuses.
 *
 * The hooks touch private parts of ssh2 (its Protocol's `_cipher`, the
 * `allocPacket` of the cipher class `AESGCMCipherBinding`, the SFTP
 * channel's `_pkt` and `_pktLen`), as mysqlSource.ts does with mysql2's row
 * parser. Should ssh2 change them, nothing is hooked and ssh2 allocates as
 * before (test/core/sshPacketPool.test.ts checks that both hooks are in
 * place against a real sshd).
 */

/** An SSH packet of 32 KiB channel data (the channel's maximum) with its headers, padding and tag fits. */
const PACKET_BYTES = 32 * 1024 + 128;
/** Buffers kept free: more than the writes in flight (512 KiB) and a socket's queue hold at once. */
const KEEP = 96;
const RANDOM_BYTES = 4096;
/** The cipher whose `allocPacket` the pool stands in for (its layout is the one written below). */
const HOOKED_CIPHER = 'AESGCMCipherBinding';

export class SshPacketPool {
  private readonly buffers = new ChunkPool(PACKET_BYTES, KEEP);
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
      packet = this.buffers.handOut(this.buffers.take(), size);
      this.taken += 1;
    } else packet = Buffer.allocUnsafe(size);
    packet.writeUInt32BE(packetLength - 4, 0);
    packet[4] = padLength;
    this.pad(packet, 5 + payloadLength, padLength);
    return packet;
  }

  /** Whether the socket should hand `chunk` back once written. */
  owns(chunk: unknown): chunk is Buffer {
    return Buffer.isBuffer(chunk) && this.buffers.lends(chunk);
  }

  /** The socket wrote every byte of `chunk`: its buffer may take another packet. */
  release(chunk: Buffer): void {
    if (!this.buffers.lends(chunk)) return;
    this.returned += 1;
    this.buffers.release(chunk);
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

/**
 * Replies at least this large are assembled in one reusable buffer. A DATA
 * reply (a read) is copied out into the reader's buffer before the next
 * reply comes in; any other reply that large (a big folder's NAME, whose
 * attributes' extended data ssh2 keeps as views) is copied out of it first.
 * HANDLE replies, whose handle ssh2 hands out as a view, are far smaller (a
 * handle is at most 256 bytes, draft-ietf-secsh-filexfer-02).
 */
const REUSED_REPLY_MIN_BYTES = 64 * 1024;
/** SSH_FXP_DATA, the reply type the scratch buffer is lent to (and the read buffer lends to, sshReadBuffer.ts). */
export const SFTP_DATA_REPLY = 103;

/**
 * Has the SFTP channel assemble its large replies (a 248 KiB read's DATA
 * spans several SSH packets) in one buffer it reuses, instead of a new one
 * per reply: ssh2 reads `_pkt`, and allocates it when it is unset. Answers
 * whether the hook is in place (ssh2's `_pkt` and `_pktLen` as expected).
 */
export function reuseSftpReplyBuffer(sftp: object, onReply?: (reply: unknown) => void): boolean {
  if (!Object.hasOwn(sftp, '_pktLen') || typeof Reflect.get(sftp, '_pktLen') !== 'number') return false;
  let stored: unknown = Reflect.get(sftp, '_pkt');
  let scratch: Buffer | null = null;
  Object.defineProperty(sftp, '_pkt', {
    configurable: true,
    enumerable: true,
    get(this: object): unknown {
      if (stored !== undefined) return stored;
      const length: unknown = Reflect.get(this, '_pktLen');
      if (typeof length !== 'number' || length < REUSED_REPLY_MIN_BYTES) return undefined;
      if (scratch === null || scratch.length < length) scratch = Buffer.allocUnsafeSlow(length);
      const view = scratch.subarray(0, length);
      // Complete (ssh2 is about to hand it to its handler) and not DATA: a copy of its own.
      if (Reflect.get(this, '_pktPos') === length && view[0] !== SFTP_DATA_REPLY) {
        stored = Buffer.from(view);
        return stored;
      }
      return view;
    },
    set(value: unknown) {
      stored = value;
      onReply?.(value);
    },
  });
  return true;
}
