import type { FieldPacket } from 'mysql2';
import { ChunkPool } from './chunkPool';

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

/** Length-encoded integer tags of the text protocol (a NULL, then 2-, 3- and 8-byte lengths). */
const NULL_FIELD = 0xfb;
const LENGTH_2 = 0xfc;
const LENGTH_3 = 0xfd;
const LENGTH_8 = 0xfe;
/** Shorter binary values are encoded here, byte by byte: cheaper than a string from toString('base64') per value. */
const INLINE_BASE64_MAX = 1024;
const BASE64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PAD = 0x3d;

/** Chunks kept for reuse: more than the source's and the sink's buffers hold at once. */
const POOLED_CHUNKS = 16;

export class CsvChunkWriter {
  /**
   * Chunk buffers come back once the sink wrote them (`release`): a fresh
   * buffer per 64 KiB of CSV made V8 run a full GC every 64 MB of output, a
   * quarter of the host's time on a million rows.
   */
  private readonly pool: ChunkPool;
  private chunk: Buffer;
  /** Whether `chunk` came from the pool (a field larger than a chunk gets a buffer of its own). */
  private pooled = true;
  private at = 0;

  /** `emit` receives each full chunk; the writer never touches a chunk again once emitted. */
  constructor(
    private readonly chunkBytes: number,
    private readonly emit: (chunk: Buffer) => void,
  ) {
    this.pool = new ChunkPool(chunkBytes * 2, POOLED_CHUNKS);
    this.chunk = this.pool.take();
  }

  get pending(): number {
    return this.at;
  }

  /** For the copy to hand an emitted chunk back once its sink is done with it. */
  get release(): (chunk: Buffer) => void {
    return this.pool.release;
  }

  /** Hands over what is written so far (if anything) and starts a new chunk. */
  flush(): void {
    if (this.at === 0) return;
    const full = this.pooled ? this.pool.handOut(this.chunk, this.at) : this.chunk.subarray(0, this.at);
    this.chunk = this.pool.take();
    this.pooled = true;
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
      if (i > 0) this.comma();
      const value = row[i];
      // NULL is an empty, unquoted field.
      if (value !== null && value !== undefined)
        this.writeValue(value, 0, value.length, kinds[i] ?? FieldKind.Text);
    }
    this.endRow();
  }

  /**
   * One row straight from a text-protocol row packet: `packet[start, end)` is
   * its payload, a length-encoded string (or 0xfb for NULL) per column. No
   * Buffer per field and no row array: on a million rows those objects (and
   * their garbage collection) were a third of the source's time.
   */
  writePacketRow(packet: Buffer, start: number, end: number, kinds: readonly FieldKind[]): void {
    let at = start;
    for (let i = 0; i < kinds.length; i += 1) {
      if (i > 0) this.comma();
      if (at >= end) throw new Error(`a row packet ended before its column ${i + 1} of ${kinds.length}`);
      const tag = packet[at] as number;
      at += 1;
      if (tag === NULL_FIELD) continue;
      let length = tag;
      if (tag === LENGTH_2) {
        length = packet.readUInt16LE(at);
        at += 2;
      } else if (tag === LENGTH_3) {
        length = packet.readUIntLE(at, 3);
        at += 3;
      } else if (tag === LENGTH_8) {
        length = Number(packet.readBigUInt64LE(at));
        at += 8;
      }
      if (at + length > end) throw new Error(`the column ${i + 1} runs past the end of its row packet`);
      this.writeValue(packet, at, at + length, kinds[i] as FieldKind);
      at += length;
    }
    this.endRow();
  }

  private comma(): void {
    this.room(1);
    this.chunk[this.at++] = COMMA;
  }

  private endRow(): void {
    this.room(1);
    this.chunk[this.at++] = LF;
    if (this.at >= this.chunkBytes) this.flush();
  }

  private writeValue(source: Buffer, start: number, end: number, kind: FieldKind): void {
    if (kind === FieldKind.Binary) this.writeBase64(source, start, end);
    else this.writeField(source, start, end, kind);
  }

  private writeBase64(source: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length === 0) {
      this.room(2);
      this.chunk[this.at++] = QUOTE;
      this.chunk[this.at++] = QUOTE;
      return;
    }
    const encoded = Math.ceil(length / 3) * 4;
    this.room(encoded);
    if (length > INLINE_BASE64_MAX) {
      this.at += this.chunk.write(source.toString('base64', start, end), this.at, encoded, 'latin1');
      return;
    }
    const out = this.chunk;
    let at = this.at;
    let i = start;
    for (; i + 3 <= end; i += 3) {
      const bits =
        ((source[i] as number) << 16) | ((source[i + 1] as number) << 8) | (source[i + 2] as number);
      out[at++] = BASE64[bits >>> 18] as number;
      out[at++] = BASE64[(bits >>> 12) & 63] as number;
      out[at++] = BASE64[(bits >>> 6) & 63] as number;
      out[at++] = BASE64[bits & 63] as number;
    }
    if (i < end) {
      const two = i + 1 < end;
      const bits = ((source[i] as number) << 16) | (two ? (source[i + 1] as number) << 8 : 0);
      out[at++] = BASE64[bits >>> 18] as number;
      out[at++] = BASE64[(bits >>> 12) & 63] as number;
      out[at++] = two ? (BASE64[(bits >>> 6) & 63] as number) : PAD;
      out[at++] = PAD;
    }
    this.at = at;
  }

  /**
   * Copies the field byte by byte (fields are short: a loop beats a native copy
   * per field) and starts over quoted at the first byte that needs quotes.
   */
  private writeField(source: Buffer, start: number, end: number, kind: FieldKind): void {
    const length = end - start;
    this.room(length * 2 + 3);
    const out = this.chunk;
    const begin = this.at;
    let at = begin;
    let i = start;
    for (; i < end; i += 1) {
      const byte = source[i] as number;
      if (byte === COMMA || byte === QUOTE || byte === CR || byte === LF) break;
      out[at++] = byte;
    }
    const quoted = i < end || length === 0;
    if (quoted) {
      at = begin;
      out[at++] = QUOTE;
      for (let j = start; j < end; j += 1) {
        const byte = source[j] as number;
        if (byte === QUOTE) out[at++] = QUOTE;
        out[at++] = byte;
      }
    }
    if (kind !== FieldKind.Text) {
      // `2024-02-29 23:59:58.123456` → `2024-02-29T23:59:58.123456` (the first space only, as the NDJSON path does).
      for (let j = begin; j < at; j += 1) {
        if (out[j] === SPACE) {
          out[j] = LETTER_T;
          break;
        }
      }
      if (kind === FieldKind.Timestamp) out[at++] = LETTER_Z;
    }
    if (quoted) out[at++] = QUOTE;
    this.at = at;
  }

  /** Makes room for `bytes` more: a full chunk is handed over first, and a field larger than a chunk gets a chunk of its own size. */
  private room(bytes: number): void {
    if (this.at + bytes <= this.chunk.length) return;
    this.flush();
    if (bytes > this.chunk.length) {
      this.pool.giveBack(this.chunk);
      this.chunk = Buffer.allocUnsafe(bytes);
      this.pooled = false;
    }
  }
}
