import { SFTP_DATA_REPLY } from './sshPacketPool';

/*
 * The SSH connection's incoming bytes, read into one buffer that is reused
 * from one read to the next, instead of the new 64 KiB buffer Node allocates
 * for every socket read. On a 256 MB SFTP download those were 256 MB of new
 * buffers, one full GC of the host's heap for every 64 MB, most of the
 * host's GC time (the CPU profile of four 256 MB downloads: 1.1 s of GC).
 * Reads are also larger (READ_BYTES), so fewer SSH packets span two reads,
 * which ssh2 copies into a new buffer each.
 *
 * A reused buffer is only safe while nothing keeps a view of it past the
 * read that filled it. ssh2 decrypts a packet in place and hands out views
 * of it: the bulk of a transfer (CHANNEL_DATA carrying SFTP DATA and STATUS
 * replies, WINDOW_ADJUST) is consumed before the read's callback returns,
 * but some messages are kept: a HANDLE reply (ssh2 hands out the handle as a
 * view), a key exchange's KEXINIT and host key, a packet whose tag has not
 * arrived yet. So the buffer is *retired* (left to those views, and a new
 * one taken for the next read) whenever the read that filled it:
 *   - carried any SSH message but CHANNEL_DATA and WINDOW_ADJUST;
 *   - carried an SFTP reply but DATA and STATUS, whole in the read;
 *   - left a key exchange in progress;
 *   - left ssh2's decipher holding a view of it (a packet's tag still to come).
 * Until the session is ready (`lend`), every read is copied, as Node did:
 * the handshake and sign-in keep views all along. Should ssh2's internals
 * change so that a hook cannot be placed, reads are copied for good.
 *
 * The hooks touch private parts of ssh2 (the Protocol's `_onPayload`,
 * `_decipher` and `_kexinit`), as sshPacketPool.ts does.
 */

/** One read's bytes at most: a 248 KiB SFTP read's reply and then some, so few packets span two reads. */
const READ_BYTES = 256 * 1024;
/** SSH_MSG_CHANNEL_WINDOW_ADJUST and SSH_MSG_CHANNEL_DATA (RFC 4254): ssh2 keeps no view of either. */
const SSH_WINDOW_ADJUST = 93;
const SSH_CHANNEL_DATA = 94;
/** SSH_FXP_STATUS: read and dropped before the next reply (as DATA is copied out). */
const SFTP_STATUS_REPLY = 101;

type OnRead = { buffer: () => Buffer; callback: (bytes: number, buffer: Buffer) => boolean };

export class SshReadBuffer {
  private buffer = Buffer.allocUnsafeSlow(READ_BYTES);
  private protocol: object | null = null;
  private lending = false;
  private retire = false;
  private readonly waiting: Buffer[] = [];
  /** Reads handed to ssh2 as views, reads copied, and buffers retired: for tests. */
  lent = 0;
  copied = 0;
  retired = 0;

  /**
   * The `onread` option of `net.connect()`: each read goes to the socket's
   * 'data' listeners (ssh2), as a view once lending, else a copy.
   */
  onread(socketOf: () => NodeJS.EventEmitter): OnRead {
    return {
      buffer: () => {
        if (this.retire) {
          this.retire = false;
          this.retired += 1;
          this.buffer = Buffer.allocUnsafeSlow(READ_BYTES);
        }
        return this.buffer;
      },
      callback: (bytes, buffer) => {
        const socket = socketOf();
        if (!this.lending || socket.listenerCount('data') === 0) {
          this.copied += 1;
          this.deliver(socket, Buffer.from(buffer.subarray(0, bytes)));
          return true;
        }
        this.lent += 1;
        socket.emit('data', buffer.subarray(0, bytes));
        if (!this.retire && this.heldAfterRead()) this.retire = true;
        return true;
      },
    };
  }

  /**
   * A copy to the 'data' listeners, kept until there is one. ssh2 pauses the
   * socket until it listens, so no read should come first: this only makes
   * sure such a read would not be lost.
   */
  private deliver(socket: NodeJS.EventEmitter, copy: Buffer): void {
    if (socket.listenerCount('data') > 0 && this.waiting.length === 0) {
      socket.emit('data', copy);
      return;
    }
    this.waiting.push(copy);
    if (this.waiting.length > 1) return;
    const flush = (event: string | symbol) => {
      if (event !== 'data') return;
      socket.off('newListener', flush);
      // After the listener is added ('newListener' comes first), and before the next read.
      process.nextTick(() => {
        for (const chunk of this.waiting.splice(0)) socket.emit('data', chunk);
      });
    };
    socket.on('newListener', flush);
  }

  /**
   * Hooks the protocol of `client` so that the messages ssh2 keeps views of
   * retire the buffer. Call it right after `client.connect()`, before any
   * key exchange. Answers whether the hooks are in place.
   */
  watchProtocol(client: object): boolean {
    const protocol: unknown = Reflect.get(client, '_protocol');
    if (
      typeof protocol !== 'object' ||
      protocol === null ||
      typeof Reflect.get(protocol, '_onPayload') !== 'function' ||
      !Object.hasOwn(protocol, '_decipher') ||
      !Object.hasOwn(protocol, '_kexinit')
    )
      return false;
    const onPayload = Reflect.get(protocol, '_onPayload') as (payload: Buffer) => unknown;
    // Every decipher ssh2 makes at a key exchange takes the protocol's `_onPayload` as it is then.
    Reflect.set(protocol, '_onPayload', (payload: Buffer) => {
      const type = payload[0];
      if (type !== SSH_CHANNEL_DATA && type !== SSH_WINDOW_ADJUST) this.kept(payload);
      return onPayload(payload);
    });
    this.protocol = protocol;
    return true;
  }

  /** An SFTP reply whole in one read, about to go to its handler: a view kept unless DATA or STATUS. */
  sftpReply(reply: unknown): void {
    if (!(reply instanceof Uint8Array)) return;
    if (reply[0] !== SFTP_DATA_REPLY && reply[0] !== SFTP_STATUS_REPLY) this.kept(reply);
  }

  /** The session is ready: from the next read on, ssh2 gets views of the buffer. */
  lend(): void {
    if (this.protocol !== null) this.lending = true;
  }

  /** ssh2 keeps `view` past this read: the buffer goes with it if it is a view of the buffer. */
  private kept(view: Uint8Array): void {
    if (this.lending && view.buffer === this.buffer.buffer) this.retire = true;
  }

  /** After a read: a key exchange in progress, or the decipher holding a view of the buffer. */
  private heldAfterRead(): boolean {
    const protocol = this.protocol as object;
    if (Reflect.get(protocol, '_kexinit') !== undefined) return true;
    const decipher: unknown = Reflect.get(protocol, '_decipher');
    if (typeof decipher !== 'object' || decipher === null) return true;
    for (const value of Object.values(decipher))
      if (value instanceof Uint8Array && value.buffer === this.buffer.buffer) return true;
    return false;
  }
}
