import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { sftpCall } from '../../src/core/jobs/sftp';
import { reuseSftpReplyBuffer, SshPacketPool } from '../../src/core/jobs/sshPacketPool';
import { findSshd, signInSftp, startSshd, stopAllSshd } from '../helpers/sshd';

afterAll(() => stopAllSshd());

describe('the SSH packet pool', () => {
  it('lays a packet out as ssh2 does: length, padding length, payload room, 4-19 bytes of padding to 16, room for the tag', () => {
    const pool = new SshPacketPool();
    for (const payload of [0, 1, 11, 12, 27, 100, 32 * 1024 + 9]) {
      const packet = pool.allocPacket(payload);
      const length = packet.readUInt32BE(0);
      const padding = packet[4] as number;
      expect(padding).toBeGreaterThanOrEqual(4);
      expect(padding).toBeLessThan(20);
      // The length counts the padding length byte, the payload and the padding; all but the
      // length field are a multiple of 16 (the AES block), and the tag follows.
      expect(length).toBe(1 + payload + padding);
      expect(length % 16).toBe(0);
      expect(packet.length).toBe(4 + length + 16);
    }
    expect(pool.taken).toBe(7);
  });

  it('hands a buffer out again only once the socket gave it back, and only once', () => {
    const pool = new SshPacketPool();
    const first = pool.allocPacket(1000);
    const second = pool.allocPacket(1000);
    expect(second.buffer).not.toBe(first.buffer);
    pool.release(first);
    pool.release(first);
    expect(pool.returned).toBe(1);
    const third = pool.allocPacket(2000);
    expect(third.buffer).toBe(first.buffer);
    expect(pool.allocPacket(2000).buffer).not.toBe(first.buffer);
    // A buffer the pool did not lend (a slice, a packet too large for it) is not its to keep.
    pool.release(third.subarray(0, 10));
    const large = pool.allocPacket(64 * 1024);
    expect(pool.owns(large)).toBe(false);
    expect(pool.owns(third)).toBe(true);
  });

  it('pads with random bytes, never the same run twice', () => {
    const pool = new SshPacketPool();
    const pads = new Set<string>();
    for (let i = 0; i < 500; i += 1) {
      const packet = pool.allocPacket(12); // 19 bytes of padding
      pads.add(packet.subarray(5 + 12, 5 + 12 + (packet[4] as number)).toString('hex'));
    }
    expect(pads.size).toBe(500);
  });
});

describe('the reused SFTP reply buffer', () => {
  it('lends its bytes to large DATA replies only; another large reply gets a copy, a small one nothing', () => {
    // The fields of ssh2's SFTP channel the hook reads, as push() leaves them.
    const channel: Record<string, unknown> = { _pktLen: 0, _pktPos: 0, _pkt: undefined };
    expect(reuseSftpReplyBuffer(channel)).toBe(true);
    const reply = (type: number, length: number) => {
      channel._pktLen = length;
      channel._pktPos = 0;
      // Assembling: ssh2 asks whether it has a buffer, and writes into what it gets.
      const during = channel._pkt as Buffer | undefined;
      during?.set([type], 0);
      channel._pktPos = length;
      const done = channel._pkt as Buffer | undefined;
      channel._pkt = undefined;
      return { during, done };
    };
    // A small reply (a HANDLE, a STATUS): ssh2 allocates its own, as before.
    expect(reply(102, 300).during).toBeUndefined();
    const first = reply(103, 80_000);
    const second = reply(103, 70_000);
    expect(first.done?.length).toBe(80_000);
    expect(second.done?.length).toBe(70_000);
    // Two DATA replies: the same memory, reused (each is copied out before the next comes in).
    expect(second.done?.buffer).toBe(first.done?.buffer);
    // A large NAME (104): a buffer of its own, so views ssh2 keeps into it stay put.
    const name = reply(104, 90_000);
    expect(name.done?.[0]).toBe(104);
    const after = reply(103, 90_000);
    expect(name.done?.buffer).not.toBe(after.done?.buffer);
    expect(name.done?.[0]).toBe(104);
    // And a handed-out copy is not rewritten by the next reply.
    (after.done as Buffer).fill(0);
    expect(name.done?.[0]).toBe(104);
  });
});

const sshd = findSshd();
describe.skipIf(!sshd.found)('the SSH packet pool against a real OpenSSH sshd', () => {
  it('carries an upload (its packets from the pool, back after each write), byte-exact on the server', async () => {
    const server = await startSshd();
    const session = await signInSftp(server);
    try {
      // Should an ssh2 upgrade rename the cipher or its fields, the hook is not in place: this says so.
      expect(session.packetsPooled).toBe(true);
      // The pool stands in for ssh2's native AES-GCM add-on only (built by npm ci; where it cannot
      // load, ssh2 uses Node's crypto and allocates its own packets, as before).
      const protocol = Reflect.get(session.client, '_protocol') as object;
      const cipher = (Reflect.get(protocol, '_cipher') as object).constructor.name;
      const data = randomBytes(8 * 1024 * 1024 + 123);
      const file = path.posix.join(server.root, 'pooled.bin');
      await new Promise<void>((resolve, reject) =>
        session.sftp.writeFile(file, data, (error) => (error ? reject(error) : resolve())),
      );
      if (cipher === 'AESGCMCipherBinding') {
        // 8 MiB in SSH packets of at most 32 KiB: at least 256 from the pool, nearly all given back.
        expect(session.packets.taken).toBeGreaterThan(256);
        expect(session.packets.returned).toBeGreaterThan(session.packets.taken - 64);
      } else expect(session.packets.taken).toBe(0);
      const written = fs.readFileSync(path.join(server.root, 'pooled.bin'));
      expect(createHash('sha256').update(written).digest('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      // And back: a download on the same connection still reads the same bytes.
      const back = await new Promise<Buffer>((resolve, reject) =>
        session.sftp.readFile(file, (error, bytes) => (error ? reject(error) : resolve(bytes))),
      );
      expect(back.equals(data)).toBe(true);
    } finally {
      session.close();
    }
  });

  it('assembles large replies in one reused buffer: reads byte-exact, no new buffer per reply, handles intact', async () => {
    const server = await startSshd();
    const data = randomBytes(6 * 1024 * 1024 + 77);
    fs.writeFileSync(path.join(server.root, 'big.bin'), data);
    const session = await signInSftp(server);
    const { sftp } = session;
    try {
      // Should an ssh2 upgrade rename its reply fields, the hook is not in place: this says so.
      expect(session.repliesReused).toBe(true);
      const handle = await sftpCall<Buffer>((cb) =>
        sftp.open(path.posix.join(server.root, 'big.bin'), 'r', cb),
      );
      const handleBytes = Buffer.from(handle);
      const big = vi.spyOn(Buffer, 'allocUnsafe');
      const out = Buffer.alloc(data.length);
      // Reads of 248 KiB, 4 at a time, as the SFTP source makes them: each reply spans several SSH packets.
      const request = 248 * 1024;
      const read = (at: number) =>
        sftpCall<number>((cb) =>
          sftp.read(handle, out, at, Math.min(request, data.length - at), at, (error, bytes) =>
            cb(error, bytes),
          ),
        );
      for (let at = 0; at < data.length; at += request * 4) {
        const reads = [0, 1, 2, 3].map((i) => at + i * request).filter((start) => start < data.length);
        await Promise.all(reads.map(read));
      }
      const largeAllocations = big.mock.calls.filter(([size]) => Number(size) >= 64 * 1024).length;
      big.mockRestore();
      expect(out.equals(data)).toBe(true);
      expect(largeAllocations).toBe(0);
      // The handle ssh2 handed out (a view into its reply) kept its bytes, and still works.
      expect(handle.equals(handleBytes)).toBe(true);
      const again = Buffer.alloc(1000);
      await sftpCall<number>((cb) =>
        sftp.read(handle, again, 0, 1000, 5000, (error, bytes) => cb(error, bytes)),
      );
      expect(again.equals(data.subarray(5000, 6000))).toBe(true);
      await sftpCall<undefined>((cb) => sftp.close(handle, (error) => cb(error, undefined)));
    } finally {
      session.close();
    }
  });
});
