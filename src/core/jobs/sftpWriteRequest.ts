import type { SFTPWrapper } from 'ssh2';

/*
 * An SFTP WRITE request sent without the buffer ssh2 builds for it. ssh2's
 * `write()` allocates a new buffer per request (the request's header and a
 * copy of the data), only to copy it again into SSH packets at once: on a
 * 256 MB upload, 256 MB of new buffers, a full GC for every 64 MB, about a
 * fifth of the host's CPU (the CPU profile of four 256 MB uploads: 0.9 s of
 * GC). Here the header goes out from a small buffer and the data straight
 * from the caller's chunk, each in pieces of at most the channel's packet
 * size, which ssh2 copies into its packets before `channelData` returns.
 *
 * Only when ssh2 itself would send the request at once: the channel open,
 * nothing queued before it, and the window holding all of it. Otherwise
 * (and should ssh2's internals not be as expected) the caller uses
 * `sftp.write()`. The request is registered with ssh2 as `write()` does it
 * (its request id counter and table), so the server's STATUS answer, and a
 * channel closing with requests unanswered, reach `callback` as they would.
 * It touches private parts of ssh2 (`_writeReqid`, `_requests`, `_buffer`,
 * `outgoing`, `_protocol.channelData`), as sshPacketPool.ts does.
 */

/** SSH_FXP_WRITE (draft-ietf-secsh-filexfer-02). */
const SFTP_WRITE = 6;
/** ssh2's request id wraps as `(id + 1) & MAX_REQID`; the same arithmetic keeps the ids in step with its own. */
const MAX_REQID = 2 ** 32 - 1;

interface Ssh2Outgoing {
  id: number;
  state: string;
  window: number;
  packetSize: number;
}

interface Ssh2SftpInternals {
  outgoing: Ssh2Outgoing;
  /** The most data one request may carry (the server's limits@openssh.com answer, or ssh2's default). */
  _maxWriteLen: number;
  _writeReqid: number;
  _requests: Record<number, { cb: (error?: Error) => void }>;
  _buffer: unknown[];
  _protocol: { channelData(channel: number, data: Buffer): void };
}

/** ssh2's SFTP internals, when they are as this module expects. */
function internalsOf(sftp: SFTPWrapper): Ssh2SftpInternals | null {
  const s = sftp as unknown as Partial<Ssh2SftpInternals>;
  const outgoing = s.outgoing;
  if (
    typeof s._writeReqid !== 'number' ||
    typeof s._maxWriteLen !== 'number' ||
    typeof s._requests !== 'object' ||
    s._requests === null ||
    !Array.isArray(s._buffer) ||
    typeof s._protocol?.channelData !== 'function' ||
    typeof outgoing !== 'object' ||
    typeof outgoing.window !== 'number' ||
    typeof outgoing.packetSize !== 'number' ||
    outgoing.packetSize <= 0
  )
    return null;
  return s as Ssh2SftpInternals;
}

export class SftpWriteRequests {
  /** The header of the request being sent (length, type, id, handle, offset, data length). */
  private header = Buffer.alloc(0);
  /** Requests sent here, and those left to `sftp.write()`: for tests. */
  sent = 0;
  deferred = 0;

  constructor(private readonly sftp: SFTPWrapper) {}

  /**
   * Sends WRITE of `chunk[start, start + length)` at `position` of `handle`,
   * `callback` called with the server's answer. Answers false, having sent
   * nothing, when it is for `sftp.write()` to send.
   */
  send(
    handle: Buffer,
    chunk: Buffer,
    start: number,
    length: number,
    position: number,
    callback: (error?: Error) => void,
  ): boolean {
    const sftp = internalsOf(this.sftp);
    const headerBytes = 4 + 1 + 4 + 4 + handle.length + 8 + 4;
    const total = headerBytes + length;
    // Strictly more window than needed: ssh2 notes a window run down to 0 for its own queue.
    if (
      sftp === null ||
      sftp.outgoing.state !== 'open' ||
      sftp._buffer.length > 0 ||
      sftp.outgoing.window <= total ||
      length <= 0 ||
      // Larger than the server takes in one request, or a header in no packet: ssh2's write() splits those.
      length > sftp._maxWriteLen ||
      headerBytes > sftp.outgoing.packetSize ||
      !Number.isSafeInteger(position)
    ) {
      this.deferred += 1;
      return false;
    }
    if (this.header.length !== headerBytes) this.header = Buffer.allocUnsafe(headerBytes);
    const header = this.header;
    const id = (sftp._writeReqid = (sftp._writeReqid + 1) & MAX_REQID);
    header.writeUInt32BE(total - 4, 0);
    header[4] = SFTP_WRITE;
    header.writeUInt32BE(id >>> 0, 5);
    header.writeUInt32BE(handle.length, 9);
    handle.copy(header, 13);
    header.writeBigUInt64BE(BigInt(position), 13 + handle.length);
    header.writeUInt32BE(length, 21 + handle.length);
    sftp._requests[id] = { cb: (error?: Error) => callback(error) };
    const { outgoing, _protocol: protocol } = sftp;
    outgoing.window -= total;
    protocol.channelData(outgoing.id, header);
    for (let at = start, end = start + length; at < end; at += outgoing.packetSize)
      protocol.channelData(outgoing.id, chunk.subarray(at, Math.min(end, at + outgoing.packetSize)));
    this.sent += 1;
    return true;
  }
}
