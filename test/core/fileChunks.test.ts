import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FileChunks } from '../../src/core/jobs/fileChunks';
import { CopyMeter } from '../../src/core/jobs/meter';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * The file source that reads into reused buffers, and the meter that hands
 * each chunk back only once the sink's write of it has completed. What could
 * go wrong is a buffer read into while a sink still holds it: every sink here
 * checks the bytes it holds when it finishes with them, not when it got them.
 */

const CHUNK = 64 * 1024;
const dir = tempDir('openir-file-chunks-');
const bytes = randomBytes(40 * CHUNK + 123);
const file = path.join(dir, 'data.bin');
fs.writeFileSync(file, bytes);

afterAll(() => cleanupTempDirs());

const open = async (start = 0, end = bytes.length, keep = 4) =>
  new FileChunks(await fsp.open(file, 'r'), { start, end, chunkSize: CHUNK, keep });

/**
 * A sink that completes each write later (as a socket does), and only then
 * compares the bytes of the chunk with the file at that offset.
 */
function slowCheckingSink(from = 0) {
  let offset = from;
  const seen = new Set<ArrayBufferLike>();
  const mismatches: number[] = [];
  const sink = new Writable({
    highWaterMark: 2 * CHUNK,
    write(chunk: Buffer, _encoding, callback) {
      const at = offset;
      offset += chunk.length;
      seen.add(chunk.buffer);
      setTimeout(() => {
        if (!chunk.equals(bytes.subarray(at, at + chunk.length))) mismatches.push(at);
        callback();
      }, 2);
    },
  });
  return { sink, seen, mismatches, written: () => offset - from };
}

describe('FileChunks', () => {
  it('copies the file byte for byte through a slow sink, reusing a few buffers', async () => {
    const source = await open();
    const { sink, seen, mismatches, written } = slowCheckingSink();
    const meter = new CopyMeter('raw', sink, source.release);
    await pipeline(source, meter);
    expect(mismatches).toEqual([]);
    expect(written()).toBe(bytes.length);
    expect(meter.sha256()).toBe(createHash('sha256').update(bytes).digest('hex'));
    // 41 chunks, a handful of buffers: each went back to the source after its write completed.
    expect(seen.size).toBeGreaterThan(1);
    expect(seen.size).toBeLessThanOrEqual(8);
  });

  it('never reads into a buffer that was not handed back', async () => {
    const source = await open();
    const chunks: Buffer[] = [];
    for await (const chunk of source) chunks.push(chunk as Buffer);
    // Nothing was released: every chunk kept its own bytes to the end.
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
  });

  it('takes a buffer back once, however often it is handed back', async () => {
    const source = await open();
    const iterator = source[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as Buffer;
    source.release(first);
    source.release(first);
    const second = (await iterator.next()).value as Buffer;
    const third = (await iterator.next()).value as Buffer;
    expect(second.buffer).not.toBe(third.buffer);
    expect(Buffer.concat([second, third]).equals(bytes.subarray(CHUNK, 3 * CHUNK))).toBe(true);
    // A buffer that is not the source's own is ignored, and so is a part of a chunk.
    source.release(Buffer.alloc(CHUNK));
    source.release(second.subarray(0, 10));
    const fourth = (await iterator.next()).value as Buffer;
    expect([second.buffer, third.buffer]).not.toContain(fourth.buffer);
    await iterator.return?.();
  });

  it('reads from start to end only, and ends early when the file is shorter', async () => {
    const part = await open(1000, 3 * CHUNK + 7);
    const { sink, mismatches, written } = slowCheckingSink(1000);
    await pipeline(part, new CopyMeter('raw', sink, part.release));
    expect(mismatches).toEqual([]);
    expect(written()).toBe(3 * CHUNK + 7 - 1000);

    const beyond = await open(bytes.length - 10, bytes.length + 5 * CHUNK);
    const got: Buffer[] = [];
    for await (const chunk of beyond) got.push(Buffer.from(chunk as Buffer));
    expect(Buffer.concat(got).equals(bytes.subarray(bytes.length - 10))).toBe(true);
  });

  it('closes the file at the end and when destroyed', async () => {
    const handle = await fsp.open(file, 'r');
    const whole = new FileChunks(handle, { start: 0, end: Infinity, chunkSize: CHUNK, keep: 2 });
    for await (const chunk of whole) whole.release(chunk as Buffer);
    expect(handle.fd).toBe(-1);

    const other = await fsp.open(file, 'r');
    const cut = new FileChunks(other, { start: 0, end: Infinity, chunkSize: CHUNK, keep: 2 });
    cut.destroy();
    await new Promise((resolve) => cut.once('close', resolve));
    expect(other.fd).toBe(-1);
  });
});

describe('CopyMeter over a sink', () => {
  it('fails, not hangs, when a file is shorter than the length the upload announced', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const announced = bytes.length + CHUNK;
      const put = http.request({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        method: 'PUT',
        headers: { 'content-length': String(announced) },
      });
      Reflect.set(put, 'strictContentLength', true);
      put.on('error', () => undefined);
      // As if the file had shrunk since its size was taken.
      const source = await open(0, announced);
      await expect(pipeline(source, new CopyMeter('raw', put, source.release))).rejects.toMatchObject({
        code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH',
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('hands a chunk back only after a write that completed', async () => {
    const released: number[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        // The third chunk fails: its buffer must not go back, the copy fails with the sink's error.
        callback(chunk[0] === 3 ? new Error('disk full') : null);
      },
    });
    const chunks = [1, 2, 3, 4].map((n) => Buffer.alloc(10, n));
    const meter = new CopyMeter('raw', sink, (chunk) => released.push(chunk[0] as number));
    await expect(pipeline(Readable.from(chunks), meter)).rejects.toThrow('disk full');
    expect(released).toEqual([1, 2]);
  });

  it('stops the sink when the source fails, and fails when the sink closes early', async () => {
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const failing = new Readable({
      read() {
        this.destroy(new Error('read failed'));
      },
    });
    await expect(pipeline(failing, new CopyMeter('raw', sink))).rejects.toThrow('read failed');
    expect(sink.destroyed).toBe(true);

    const closing = new Writable({
      write(_chunk, _encoding, callback) {
        this.destroy();
        callback();
      },
    });
    await expect(
      pipeline(Readable.from([Buffer.alloc(5)]), new CopyMeter('raw', closing)),
    ).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
