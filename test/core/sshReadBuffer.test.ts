import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sftpCall } from '../../src/core/jobs/sftp';
import { SshReadBuffer } from '../../src/core/jobs/sshReadBuffer';
import { findSshd, signInSftp, startSshd, stopAllSshd } from '../helpers/sshd';

afterAll(() => stopAllSshd());

/** The parts of ssh2's Protocol the read buffer watches, as a fake, with the payloads it was given. */
function fakeConnection() {
  const types: number[] = [];
  const protocol = {
    _onPayload: (payload: Buffer) => {
      types.push(payload[0] as number);
    },
    _decipher: { inSeqno: 0, _packet: null as Uint8Array | null, _tag: Buffer.alloc(16) },
    _kexinit: undefined as Buffer | undefined,
  };
  const socket = new EventEmitter();
  const reads = new SshReadBuffer();
  const onread = reads.onread(() => socket);
  expect(reads.watchProtocol({ _protocol: protocol })).toBe(true);
  const seen: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => seen.push(chunk));
  let buffer = onread.buffer();
  /** One read of `bytes` as Node makes it: into the buffer, then the callback, then the next buffer. */
  const read = (bytes: Buffer, during?: (chunk: Buffer) => void) => {
    bytes.copy(buffer);
    if (during) socket.once('data', during);
    onread.callback(bytes.length, buffer);
    const next = onread.buffer();
    const kept = next === buffer;
    buffer = next;
    return kept;
  };
  return { protocol, socket, reads, seen, read, types, current: () => buffer };
}

describe('the SSH read buffer', () => {
  it('copies every read until the session is ready, then lends views of one buffer', () => {
    const { reads, seen, read, current } = fakeConnection();
    expect(read(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))).toBe(true);
    expect(seen[0]?.buffer).not.toBe(current().buffer);
    expect(seen[0]?.toString()).toBe('SSH-2.0-OpenSSH_9.2\r\n');
    reads.lend();
    expect(read(Buffer.from('bulk one'))).toBe(true);
    expect(read(Buffer.from('bulk two'))).toBe(true);
    expect(seen[1]?.buffer).toBe(current().buffer);
    expect(seen[2]?.toString()).toBe('bulk two');
    expect([reads.copied, reads.lent, reads.retired]).toEqual([1, 2, 0]);
  });

  it('keeps the buffer through channel data and window adjusts; any other message in a read retires it', () => {
    const { protocol, reads, read, types } = fakeConnection();
    reads.lend();
    // ssh2's decipher decrypts in place and hands the protocol a view of the read.
    const deliver = (type: number) => (chunk: Buffer) => protocol._onPayload(chunk.subarray(0, 1).fill(type));
    expect(read(Buffer.alloc(64), deliver(94))).toBe(true); // CHANNEL_DATA
    expect(read(Buffer.alloc(64), deliver(93))).toBe(true); // CHANNEL_WINDOW_ADJUST
    expect(read(Buffer.alloc(64), deliver(20))).toBe(false); // KEXINIT: kept for the exchange hash
    expect(read(Buffer.alloc(64), deliver(82))).toBe(false); // REQUEST_FAILURE (a keepalive's answer)
    expect(types).toEqual([94, 93, 20, 82]);
    expect(reads.retired).toBe(2);
  });

  it('retires the buffer while a key exchange is in progress, or while the decipher holds a view of it', () => {
    const { protocol, reads, read } = fakeConnection();
    reads.lend();
    protocol._kexinit = Buffer.alloc(10);
    expect(read(Buffer.alloc(64))).toBe(false);
    protocol._kexinit = undefined;
    expect(read(Buffer.alloc(64))).toBe(true);
    // A packet whose body ended the read, its tag still to come: ssh2 keeps the body as a view.
    expect(read(Buffer.alloc(64), (chunk) => (protocol._decipher._packet = chunk.subarray(4, 60)))).toBe(
      false,
    );
    protocol._decipher._packet = Buffer.alloc(60); // a packet spanning reads: ssh2's own buffer
    expect(read(Buffer.alloc(64))).toBe(true);
    expect(reads.retired).toBe(2);
  });

  it('retires the buffer for an SFTP reply ssh2 may keep (a HANDLE), not for DATA or STATUS', () => {
    const { reads, read } = fakeConnection();
    reads.lend();
    const reply = (type: number) => (chunk: Buffer) =>
      reads.sftpReply(chunk.subarray(8, 40).fill(type, 0, 1));
    expect(read(Buffer.alloc(64), reply(103))).toBe(true); // DATA: copied out by the reader
    expect(read(Buffer.alloc(64), reply(101))).toBe(true); // STATUS
    expect(read(Buffer.alloc(64), reply(102))).toBe(false); // HANDLE: a view handed out
    // A reply in a buffer of ssh2's own (assembled from several packets) is not the read buffer's concern.
    expect(read(Buffer.alloc(64), () => reads.sftpReply(Buffer.alloc(32, 102)))).toBe(true);
  });

  it('holds reads that come before ssh2 listens, and hands them over in order', async () => {
    const socket = new EventEmitter();
    const reads = new SshReadBuffer();
    const onread = reads.onread(() => socket);
    const buffer = onread.buffer();
    for (const text of ['one', 'two']) {
      buffer.write(text);
      onread.callback(text.length, buffer);
    }
    const seen: string[] = [];
    socket.on('data', (chunk: Buffer) => seen.push(chunk.toString()));
    await new Promise((resolve) => process.nextTick(resolve));
    expect(seen).toEqual(['one', 'two']);
  });

  it('never lends when the protocol is not as expected (an ssh2 upgrade): every read is copied', () => {
    const socket = new EventEmitter();
    const reads = new SshReadBuffer();
    const onread = reads.onread(() => socket);
    expect(reads.watchProtocol({ _protocol: { _onPayload: () => undefined } })).toBe(false);
    reads.lend();
    const seen: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => seen.push(chunk));
    const buffer = onread.buffer();
    onread.callback(3, buffer.fill(1, 0, 3));
    expect(seen[0]?.buffer).not.toBe(buffer.buffer);
    expect([reads.copied, reads.lent]).toEqual([1, 0]);
  });
});

const sshd = findSshd();
describe.skipIf(!sshd.found)('the SSH read buffer against a real OpenSSH sshd', () => {
  it('reads through server rekeys every MiB byte-exact, lending its buffer between them', async () => {
    // The server rekeys after every MiB it sends: each KEXINIT and host key arrives in a lent read.
    const server = await startSshd(['RekeyLimit 1M']);
    const data = randomBytes(12 * 1024 * 1024 + 5);
    fs.writeFileSync(path.join(server.root, 'big.bin'), data);
    const session = await signInSftp(server);
    const { sftp } = session;
    let handshakes = 0;
    session.client.on('handshake', () => (handshakes += 1));
    try {
      const handle = await sftpCall<Buffer>((cb) =>
        sftp.open(path.posix.join(server.root, 'big.bin'), 'r', cb),
      );
      const handleBytes = Buffer.from(handle);
      const out = Buffer.alloc(data.length);
      const request = 248 * 1024;
      for (let at = 0; at < data.length; at += request * 4) {
        const starts = [0, 1, 2, 3].map((i) => at + i * request).filter((start) => start < data.length);
        await Promise.all(
          starts.map((start) =>
            sftpCall<number>((cb) =>
              sftp.read(handle, out, start, Math.min(request, data.length - start), start, (error, bytes) =>
                cb(error, bytes),
              ),
            ),
          ),
        );
      }
      expect(out.equals(data)).toBe(true);
      // The handle (a view of the read that brought it) kept its bytes through every later read.
      expect(handle.equals(handleBytes)).toBe(true);
      await sftpCall<undefined>((cb) => sftp.close(handle, (error) => cb(error, undefined)));
      expect(handshakes).toBeGreaterThanOrEqual(8);
      // Most reads were lent; each rekey retired a few buffers.
      expect(session.reads.lent).toBeGreaterThan(40);
      expect(session.reads.retired).toBeGreaterThanOrEqual(handshakes);
      expect(session.reads.retired).toBeLessThan(session.reads.lent / 2);
    } finally {
      session.close();
    }
  });
});
