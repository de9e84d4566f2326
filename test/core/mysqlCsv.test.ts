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
