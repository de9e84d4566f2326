import type { FieldPacket } from 'mysql2';

/**
 * CSV straight from the MySQL text protocol's bytes. The connection hands each
 * field over as a view on the packet (`typeCast: false`), and this writer
 * copies it into the output chunk, quoting where RFC 4180 asks, without
 * decoding it into a JavaScript string first: decoding and re-encoding every
 * field was two thirds of the source's time. The text is the server's own
 * (what `mariadb --batch` prints), with the source's conversions: dates as ISO
 * (`T`, and `Z` for a TIMESTAMP, the session being in UTC) and binary as base64.
 */

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;

/** The character set number the server gives binary strings (and every non-string type). */
const BINARY_CHARSET = 63;
/**
 * Column types that carry text whatever their character set: numbers, dates,
 * times, JSON. Only other types with the binary character set are bytes
 * (BINARY, VARBINARY, BLOB, BIT, GEOMETRY), written as base64.
 */
const TEXT_TYPES = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 19, 245, 246]);
const DATETIME_TYPES = new Set([12, 18]);
const TIMESTAMP_TYPES = new Set([7, 17]);

export const FieldKind = { Text: 0, Binary: 1, DateTime: 2, Timestamp: 3 } as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

export function fieldKind(field: Pick<FieldPacket, 'columnType' | 'characterSet'>): FieldKind {
  const type = field.columnType ?? -1;
  if (DATETIME_TYPES.has(type)) return FieldKind.DateTime;
  if (TIMESTAMP_TYPES.has(type)) return FieldKind.Timestamp;
  if (field.characterSet === BINARY_CHARSET && !TEXT_TYPES.has(type)) return FieldKind.Binary;
  return FieldKind.Text;
}

function needsQuotes(value: Buffer): boolean {
  if (value.length === 0) return true;
  for (let i = 0; i < value.length; i += 1) {
    const byte = value[i];
    if (byte === COMMA || byte === QUOTE || byte === CR || byte === LF) return true;
  }
  return false;
}

export class CsvChunkWriter {
  private chunk: Buffer;
  private at = 0;

  /** `emit` receives each full chunk; the writer never touches a chunk again once emitted. */
  constructor(
    private readonly chunkBytes: number,
    private readonly emit: (chunk: Buffer) => void,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkBytes * 2);
  }

  get pending(): number {
    return this.at;
  }

  /** Hands over what is written so far (if anything) and starts a new chunk. */
  flush(): void {
    if (this.at === 0) return;
    const full = this.chunk.subarray(0, this.at);
    this.chunk = Buffer.allocUnsafe(this.chunkBytes * 2);
    this.at = 0;
    this.emit(full);
  }

  writeText(text: string): void {
    const bytes = Buffer.from(text);
    this.room(bytes.length);
    this.at += bytes.copy(this.chunk, this.at);
  }

  /** One row: its fields as the protocol gave them (null for NULL), then a line break. */
  writeRow(row: readonly (Buffer | null)[], kinds: readonly FieldKind[]): void {
    for (let i = 0; i < row.length; i += 1) {
      if (i > 0) {
        this.room(1);
        this.chunk[this.at++] = COMMA;
      }
      const value = row[i];
      // NULL is an empty, unquoted field.
      if (value === null || value === undefined) continue;
      const kind = kinds[i] ?? FieldKind.Text;
      if (kind === FieldKind.Binary) this.writeBase64(value);
      else this.writeField(value, kind);
    }
    this.room(1);
    this.chunk[this.at++] = LF;
    if (this.at >= this.chunkBytes) this.flush();
  }

  private writeBase64(value: Buffer): void {
    if (value.length === 0) {
      this.room(2);
      this.chunk[this.at++] = QUOTE;
      this.chunk[this.at++] = QUOTE;
      return;
    }
    const length = Math.ceil(value.length / 3) * 4;
    this.room(length);
    this.at += this.chunk.write(value.toString('base64'), this.at, length, 'latin1');
  }

  private writeField(value: Buffer, kind: FieldKind): void {
    const quoted = needsQuotes(value);
    this.room(quoted ? value.length * 2 + 3 : value.length + 1);
    const start = this.at;
    if (!quoted) {
      this.at += value.copy(this.chunk, this.at);
    } else {
      this.chunk[this.at++] = QUOTE;
      for (let i = 0; i < value.length; i += 1) {
        const byte = value[i] as number;
        if (byte === QUOTE) this.chunk[this.at++] = QUOTE;
        this.chunk[this.at++] = byte;
      }
    }
    if (kind !== FieldKind.Text) {
      // `2024-02-29 23:59:58.123456` → `2024-02-29T23:59:58.123456` (the first space only, as the NDJSON path does).
      const space = this.chunk.indexOf(SPACE, start);
      if (space !== -1 && space < this.at) this.chunk[space] = LETTER_T;
      if (kind === FieldKind.Timestamp) this.chunk[this.at++] = LETTER_Z;
    }
    if (quoted) this.chunk[this.at++] = QUOTE;
  }

  /** Makes room for `bytes` more: a full chunk is handed over first, and a field larger than a chunk gets a chunk of its own size. */
  private room(bytes: number): void {
    if (this.at + bytes <= this.chunk.length) return;
    this.flush();
    if (bytes > this.chunk.length) this.chunk = Buffer.allocUnsafe(bytes);
  }
}
