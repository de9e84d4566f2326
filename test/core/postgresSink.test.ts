import net from 'node:net';
import { from as copyFrom } from 'pg-copy-streams';
import { describe, expect, it } from 'vitest';
import {
  csvHeaderColumns,
  HeaderFirst,
  openPostgresSink,
  quotedSinkTable,
} from '../../src/core/jobs/postgresSink';
import type { PostgresCredential } from '../../src/core/jobs/postgresSource';
import { OpenIrError } from '../../src/shared/errors';

describe('PostgreSQL sink table names', () => {
  it('quotes each part, folding plain names to lower case', () => {
    expect(quotedSinkTable('table:Sales')).toBe('"sales"');
    expect(quotedSinkTable('table:public.Sales')).toBe('"public"."sales"');
    expect(quotedSinkTable('table:"My Schema"."Odd""Name"')).toBe('"My Schema"."Odd""Name"');
  });

  it.each([
    'table:',
    'sales',
    'table:a.b.c',
    'table:sales; DROP TABLE sales',
    'table:sales--',
    'table:"unclosed',
    'table:a..b',
    'table: sales',
  ])('refuses %s with INVALID_INPUT', (location) => {
    let caught: unknown;
    try {
      quotedSinkTable(location);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OpenIrError);
    expect((caught as OpenIrError).code).toBe('INVALID_INPUT');
  });

  it('refuses a format other than csv before connecting', async () => {
    const credential = {
      type: 'postgresql',
      name: 'pg',
      host: '127.0.0.1',
      port: 1,
      database: 'd',
      user: 'u',
      ssl: false,
    } as unknown as PostgresCredential;
    await expect(openPostgresSink(credential, 'table:t', 'ndjson')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});

describe('PostgreSQL sink: the CSV header line as a column list', () => {
  it('reads plain and quoted names, in their order, exactly as spelled', () => {
    expect(csvHeaderColumns('day,label,id', '"t"')).toEqual(['day', 'label', 'id']);
    expect(csvHeaderColumns('"Day","a,b","say ""hi""",x\r', '"t"')).toEqual(['Day', 'a,b', 'say "hi"', 'x']);
    expect(csvHeaderColumns('only', '"t"')).toEqual(['only']);
  });

  it.each(['a,,b', '', 'a,', '"open', 'a"b', '"a"x,b'])(
    'refuses the header %j with SINK_DATA_REJECTED',
    (line) => {
      let caught: unknown;
      try {
        csvHeaderColumns(line, '"t"');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(OpenIrError);
      expect((caught as OpenIrError).code).toBe('SINK_DATA_REJECTED');
      expect((caught as OpenIrError).message).toContain('Nothing was loaded');
    },
  );
});

describe('the COPY stream hands chunks back only when the socket is done with them', () => {
  it('a small chunk still queued in the socket is not overwritten by the source refilling its buffer', async () => {
    // A server that reads nothing for 300 ms, so the socket's queue fills as a slow PostgreSQL's would.
    let received: Buffer[] = [];
    let ended!: () => void;
    const done = new Promise<void>((resolve) => (ended = resolve));
    const server = net.createServer((peer) => {
      peer.pause();
      setTimeout(() => {
        peer.on('data', (d: Buffer) => received.push(d));
        peer.resume();
      }, 300);
      peer.on('end', () => ended());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    try {
      // Fill the kernel's buffers until a write stays queued in this process.
      const filler = Buffer.alloc(1000, 0x2e);
      while (socket.writableLength === 0) socket.write(filler);
      received = [];
      const copy = copyFrom('COPY t FROM STDIN');
      // pg's side of the COPY, as pg-copy-streams uses it: the socket, and the server's go-ahead.
      Object.assign(copy, { connection: { stream: socket, query() {}, sendCopyFail() {} } });
      (copy as unknown as { handleCopyInResponse(): void }).handleCopyInResponse();
      const sink = new HeaderFirst(
        () => copy,
        () => undefined,
        () => socket,
      );
      // The header line opens the COPY; then a small chunk from the source's one buffer.
      await new Promise<void>((resolve, reject) =>
        sink.write(Buffer.from('id,label\n'), (error) => (error ? reject(error) : resolve())),
      );
      const buffer = Buffer.from('1,GOOD-DATA\n');
      await new Promise<void>((resolve, reject) =>
        sink.write(buffer, (error) => (error ? reject(error) : resolve())),
      );
      // The source may now read into its buffer again (CopyMeter's release).
      buffer.fill(0x58);
      socket.end();
      await done;
      const text = Buffer.concat(received).toString('latin1');
      expect(text).toContain('1,GOOD-DATA\n');
      expect(text).not.toContain('XXXXXXXX');
    } finally {
      socket.destroy();
      server.close();
    }
  });
});
