import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { sftpCall, SftpWriter } from '../../src/core/jobs/sftp';
import { SftpWriteRequests } from '../../src/core/jobs/sftpWriteRequest';
import { findSshd, signInSftp, startSshd, stopAllSshd, type RunningSshd } from '../helpers/sshd';

afterAll(() => stopAllSshd());

/** ssh2's SFTP internals the requests use, as a fake that records what goes out. */
function fakeSftp(overrides: Record<string, unknown> = {}) {
  const sent: Buffer[] = [];
  const sftp = {
    outgoing: { id: 7, state: 'open', window: 2 * 1024 * 1024, packetSize: 32 * 1024 },
    _maxWriteLen: 255 * 1024,
    _writeReqid: -1,
    _requests: {} as Record<number, { cb: (error?: Error) => void }>,
    _buffer: [] as unknown[],
    _protocol: { channelData: (_channel: number, data: Buffer) => sent.push(Buffer.from(data)) },
    ...overrides,
  };
  return { sftp, sent, requests: new SftpWriteRequests(sftp as unknown as SFTPWrapper) };
}

describe('SFTP write requests sent from the chunk', () => {
  it('sends the header, then the data in pieces of at most the packet size, and takes the window', () => {
    const { sftp, sent, requests } = fakeSftp();
    const handle = Buffer.from('abcd');
    const data = randomBytes(100_000);
    const answers: (Error | undefined)[] = [];
    expect(requests.send(handle, data, 1000, 90_000, 2 ** 40 + 5, (error) => answers.push(error))).toBe(true);
    const header = sent[0] as Buffer;
    expect(header.length).toBe(4 + 1 + 4 + 4 + 4 + 8 + 4);
    expect(header.readUInt32BE(0)).toBe(header.length - 4 + 90_000);
    expect(header[4]).toBe(6); // SSH_FXP_WRITE
    expect(header.readUInt32BE(5)).toBe(0); // ssh2's first request id
    expect(header.subarray(13, 17).toString()).toBe('abcd');
    expect(header.readBigUInt64BE(17)).toBe(2n ** 40n + 5n);
    expect(header.readUInt32BE(25)).toBe(90_000);
    expect(sent.slice(1).map((piece) => piece.length)).toEqual([32768, 32768, 24464]);
    expect(Buffer.concat(sent.slice(1)).equals(data.subarray(1000, 91_000))).toBe(true);
    expect(sftp.outgoing.window).toBe(2 * 1024 * 1024 - header.length - 90_000);
    // The server's answer reaches the callback through ssh2's request table.
    sftp._requests[0]?.cb();
    expect(answers).toEqual([undefined]);
    expect(sftp._writeReqid).toBe(0);
  });

  it('leaves the request to sftp.write() when ssh2 would queue it, or is not as expected', () => {
    const cases: Record<string, unknown>[] = [
      { outgoing: { id: 7, state: 'open', window: 526, packetSize: 32768 } }, // the window holds the request but no more
      { outgoing: { id: 7, state: 'eof', window: 2 ** 21, packetSize: 32768 } }, // channel closing
      { _buffer: [Buffer.alloc(10)] }, // requests queued before it
      { _maxWriteLen: 499 }, // more than the server takes in one request
      { outgoing: { id: 7, state: 'open', window: 2 ** 21, packetSize: 20 } }, // a header in no packet
      { _writeReqid: undefined }, // an ssh2 upgrade renamed its fields
      { _protocol: {} },
    ];
    for (const overrides of cases) {
      const { sent, requests, sftp } = fakeSftp(overrides);
      expect(requests.send(Buffer.from('h'), Buffer.alloc(500), 0, 500, 0, () => undefined)).toBe(false);
      expect(sent).toEqual([]);
      expect(Object.keys(sftp._requests ?? {})).toEqual([]);
      expect(requests.deferred).toBe(1);
    }
  });
});

const sshd = findSshd();
describe.skipIf(!sshd.found)('SFTP write requests against a real OpenSSH sshd', () => {
  let server: RunningSshd;
  const signIn = async () => {
    server ??= await startSshd();
    return signInSftp(server);
  };

  it('puts on the wire what ssh2 write() does, but for the request id', async () => {
    const session = await signIn();
    const { sftp } = session;
    try {
      const handle = await sftpCall<Buffer>((cb) =>
        sftp.open(path.posix.join(server.root, 'same.bin'), 'w', cb),
      );
      const protocol = Reflect.get(sftp, '_protocol') as { channelData(channel: number, data: Buffer): void };
      const wire: Buffer[] = [];
      const channelData = protocol.channelData.bind(protocol);
      const spy = vi.spyOn(protocol, 'channelData').mockImplementation((channel, data) => {
        wire.push(Buffer.from(data));
        channelData(channel, data);
      });
      const data = randomBytes(70_000);
      await sftpCall<number>((cb) => sftp.write(handle, data, 0, data.length, 0, (error) => cb(error, 0)));
      const theirs = Buffer.concat(wire.splice(0));
      const requests = new SftpWriteRequests(sftp);
      await sftpCall<number>((cb) =>
        expect(requests.send(handle, data, 0, data.length, 0, (error) => cb(error, 0))).toBe(true),
      );
      const ours = Buffer.concat(wire.splice(0));
      spy.mockRestore();
      expect(ours.length).toBe(theirs.length);
      // Bytes 5-8 are the request id: the next one.
      expect(ours.readUInt32BE(5)).toBe(theirs.readUInt32BE(5) + 1);
      expect(Buffer.concat([ours.subarray(0, 5), ours.subarray(9)])).toEqual(
        Buffer.concat([theirs.subarray(0, 5), theirs.subarray(9)]),
      );
      await sftpCall<undefined>((cb) => sftp.close(handle, (error) => cb(error, undefined)));
      expect(fs.readFileSync(path.join(server.root, 'same.bin')).equals(data)).toBe(true);
    } finally {
      session.close();
    }
  });

  it('uploads byte-exact through SftpWriter with no new buffer per request; a refused write reaches its callback', async () => {
    const session = await signIn();
    const { sftp } = session;
    try {
      const target = path.posix.join(server.root, 'up.bin');
      const handle = await sftpCall<Buffer>((cb) => sftp.open(target, 'w', cb));
      const data = randomBytes(8 * 1024 * 1024 + 77);
      const writer = new SftpWriter(sftp, handle, (error) => error as Error);
      const big = vi.spyOn(Buffer, 'allocUnsafe');
      const chunks = function* () {
        for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
      };
      await pipeline(Readable.from(chunks()), writer);
      const largeAllocations = big.mock.calls.filter(([size]) => Number(size) >= 64 * 1024).length;
      big.mockRestore();
      await sftpCall<undefined>((cb) => sftp.close(handle, (error) => cb(error, undefined)));
      const written = fs.readFileSync(path.join(server.root, 'up.bin'));
      expect(createHash('sha256').update(written).digest('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      // 8 MiB in requests of 128 KiB: nearly all from the chunk, none built in a buffer of ssh2's.
      expect(writer.requests.sent).toBeGreaterThan(60);
      expect(largeAllocations).toBe(0);
      // A file opened for reading: the server refuses the write, and says so to the callback.
      const readOnly = await sftpCall<Buffer>((cb) => sftp.open(target, 'r', cb));
      const refused = await new Promise<Error | undefined>((resolve) =>
        expect(new SftpWriteRequests(sftp).send(readOnly, data, 0, 1000, 0, resolve)).toBe(true),
      );
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error & { code?: number }).code).toBeGreaterThan(0);
      await sftpCall<undefined>((cb) => sftp.close(readOnly, (error) => cb(error, undefined)));
    } finally {
      session.close();
    }
  });
});
