import { describe, expect, it } from 'vitest';
import { CsvChunkWriter, FieldKind, fieldKind } from '../../src/core/jobs/mysqlCsv';

function csvOf(
  rows: (string | Buffer | null)[][],
  kinds: FieldKind[],
  chunkBytes = 64,
): { text: string; chunks: number } {
  const chunks: Buffer[] = [];
  const writer = new CsvChunkWriter(chunkBytes, (chunk) => chunks.push(chunk));
  for (const row of rows)
    writer.writeRow(
      row.map((v) => (typeof v === 'string' ? Buffer.from(v) : v)),
      kinds,
    );
  writer.flush();
  return { text: Buffer.concat(chunks).toString('utf8'), chunks: chunks.length };
}

describe('CSV from the MySQL protocol bytes', () => {
  it('quotes what RFC 4180 asks, keeps NULL empty and "" for an empty string', () => {
    const kinds = [FieldKind.Text, FieldKind.Text, FieldKind.Text, FieldKind.Text];
    const { text } = csvOf(
      [
        ['1', 'plain', 'say "hi", row 1', null],
        ['2', '', 'two\nlines', 'é-ü,'],
        ['3', 'cr\r', null, '"'],
      ],
      kinds,
    );
    expect(text).toBe('1,plain,"say ""hi"", row 1",\n2,"","two\nlines","é-ü,"\n3,"cr\r",,""""\n');
  });

  it('writes dates as ISO (T, and Z for a TIMESTAMP) and binary as base64', () => {
    const bin = Buffer.from([0, 255, 16, 32, 44]);
    const { text } = csvOf(
      [['2024-02-29 23:59:58.123456', '2024-01-01 00:01:00', bin, Buffer.alloc(0), '2024-02-29']],
      [FieldKind.DateTime, FieldKind.Timestamp, FieldKind.Binary, FieldKind.Binary, FieldKind.Text],
    );
    expect(text).toBe(
      `2024-02-29T23:59:58.123456,2024-01-01T00:01:00Z,${bin.toString('base64')},"",2024-02-29\n`,
    );
  });

  it('hands over chunks of about the chunk size, and a field larger than a chunk whole', () => {
    const big = 'x'.repeat(1000);
    const rows = Array.from({ length: 50 }, (_, i) => [String(i), i === 25 ? big : 'y']);
    const { text, chunks } = csvOf(rows, [FieldKind.Text, FieldKind.Text], 64);
    expect(text).toBe(rows.map((r) => `${r[0]},${r[1]}\n`).join(''));
    expect(chunks).toBeGreaterThan(3);
  });

  it('treats binary-charset strings as bytes but numbers, dates and JSON as text', () => {
    expect(fieldKind({ columnType: 253, characterSet: 63 })).toBe(FieldKind.Binary); // VARBINARY
    expect(fieldKind({ columnType: 16, characterSet: 63 })).toBe(FieldKind.Binary); // BIT
    expect(fieldKind({ columnType: 253, characterSet: 45 })).toBe(FieldKind.Text); // VARCHAR utf8mb4
    expect(fieldKind({ columnType: 246, characterSet: 63 })).toBe(FieldKind.Text); // DECIMAL
    expect(fieldKind({ columnType: 3, characterSet: 63 })).toBe(FieldKind.Text); // INT
    expect(fieldKind({ columnType: 245, characterSet: 63 })).toBe(FieldKind.Text); // JSON
    expect(fieldKind({ columnType: 12, characterSet: 63 })).toBe(FieldKind.DateTime);
    expect(fieldKind({ columnType: 7, characterSet: 63 })).toBe(FieldKind.Timestamp);
  });
});

/** A text-protocol row packet's payload: per field a length-encoded string, 0xfb for NULL. */
function rowPacket(fields: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([9, 9, 9, 9])]; // a header before the payload, as mysql2 hands it
  for (const value of fields) {
    if (value === null) parts.push(Buffer.from([0xfb]));
    else if (value.length < 251) parts.push(Buffer.from([value.length]), value);
    else if (value.length < 0x10000)
      parts.push(Buffer.from([0xfc, value.length & 255, value.length >> 8]), value);
    else
      parts.push(
        Buffer.from([0xfd, value.length & 255, (value.length >> 8) & 255, value.length >> 16]),
        value,
      );
  }
  return Buffer.concat(parts);
}

describe('CSV from whole row packets (no Buffer per field)', () => {
  const kinds = [
    FieldKind.Text,
    FieldKind.Text,
    FieldKind.DateTime,
    FieldKind.Timestamp,
    FieldKind.Binary,
    FieldKind.Text,
    FieldKind.Binary,
  ];
  const rows: (Buffer | null)[][] = [
    ['1', 'say "hi", row 1', '2024-02-29 23:59:58.123456', '2024-01-01 00:01:00', 'bin', 'é-ü', 'ab'],
    ['2', '', null, null, null, null, ''],
    ['3', 'two\nlines\r', '2024-03-01 00:00:00', '2024-03-01 00:00:00', 'a', 'x'.repeat(300), 'abcd'],
    ['4', 'y'.repeat(70_000), '1000-01-01 00:00:00', '2038-01-19 03:14:07', '\0\xff', '"', 'x'.repeat(2000)],
  ].map((row) =>
    row.map((v) => (v === null ? null : Buffer.from(v, v.startsWith('\0') ? 'latin1' : 'utf8'))),
  );

  it('writes the same bytes as from the fields, with 1-, 2- and 3-byte lengths, NULLs, quotes, dates and base64', () => {
    const fromPackets: Buffer[] = [];
    const packets = new CsvChunkWriter(64, (chunk) => fromPackets.push(chunk));
    for (const row of rows) {
      const packet = rowPacket(row);
      packets.writePacketRow(packet, 4, packet.length, kinds);
    }
    packets.flush();
    const fromFields = csvOf(rows, kinds).text;
    expect(Buffer.concat(fromPackets).toString('utf8')).toBe(fromFields);
    const lines = fromFields.split('\n');
    expect(lines[0]).toBe(
      `1,"say ""hi"", row 1",2024-02-29T23:59:58.123456,2024-01-01T00:01:00Z,${Buffer.from('bin').toString('base64')},é-ü,${Buffer.from('ab').toString('base64')}`,
    );
    expect(lines[1]).toBe('2,"",,,,,""');
    expect(fromFields).toContain(`,${Buffer.from('x'.repeat(2000)).toString('base64')}\n`);
    expect(fromFields).toContain(`,${Buffer.from([0, 255]).toString('base64')},""""`);
  });

  it("base64 of every length 0-40 matches Node's own", () => {
    for (let length = 1; length <= 40; length += 1) {
      const value = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) & 255));
      const out: Buffer[] = [];
      const writer = new CsvChunkWriter(64, (chunk) => out.push(chunk));
      const packet = rowPacket([value]);
      writer.writePacketRow(packet, 4, packet.length, [FieldKind.Binary]);
      writer.flush();
      expect(Buffer.concat(out).toString('latin1')).toBe(`${value.toString('base64')}\n`);
    }
  });

  it('refuses a packet that ends before its columns do', () => {
    const packet = rowPacket([Buffer.from('1'), Buffer.from('abc')]);
    const writer = new CsvChunkWriter(64, () => undefined);
    expect(() =>
      writer.writePacketRow(packet, 4, packet.length - 1, [FieldKind.Text, FieldKind.Text]),
    ).toThrow(/runs past the end/);
    expect(() =>
      writer.writePacketRow(packet, 4, packet.length, [FieldKind.Text, FieldKind.Text, FieldKind.Text]),
    ).toThrow(/ended before its column 3/);
  });

  it('writes into a chunk again only once it is released, and never into a larger-than-chunk field', () => {
    const emitted: Buffer[] = [];
    const writer = new CsvChunkWriter(64, (chunk) => emitted.push(chunk));
    // Two 40-byte fields: one row fills a 64-byte chunk, so each row is a chunk of its own.
    const row = (letter: string) =>
      writer.writeRow([Buffer.from(letter.repeat(40)), Buffer.from(letter.repeat(40))], kinds2);
    const kinds2 = [FieldKind.Text, FieldKind.Text];
    const line = (letter: string) => `${letter.repeat(40)},${letter.repeat(40)}\n`;
    row('a');
    row('b');
    const [first, second] = emitted as [Buffer, Buffer];
    expect(first.toString()).toBe(line('a'));
    // Not released: the next chunk is another buffer, so the first keeps its bytes.
    expect(second.buffer).not.toBe(first.buffer);
    // Released (twice, as a sink calling back twice would): its buffer is taken again once.
    writer.release(first);
    writer.release(first);
    row('c'); // into the chunk taken when 'b' went out
    row('d'); // into the first chunk's buffer
    row('e');
    const [, , third, fourth, fifth] = emitted as Buffer[];
    expect(fourth?.buffer).toBe(first.buffer);
    expect([third?.buffer, fifth?.buffer]).not.toContain(first.buffer);
    expect(emitted.slice(1).map((c) => c.toString())).toEqual([line('b'), line('c'), line('d'), line('e')]);
    // A field larger than a chunk gets its own buffer, which never goes back to the pool.
    writer.writeRow([Buffer.from('e'.repeat(100))], [FieldKind.Text]);
    writer.flush();
    const big = emitted[5] as Buffer;
    expect(big.toString()).toBe(`${'e'.repeat(100)}\n`);
    writer.release(big);
    row('f');
    row('g');
    expect(emitted.slice(6).map((c) => c.buffer)).not.toContain(big.buffer);
    expect(emitted.slice(6).map((c) => c.toString())).toEqual([line('f'), line('g')]);
  });
});
