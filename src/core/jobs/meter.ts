import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { JobFormat } from '../../shared/jobs';

export interface MeterReading {
  bytes: number;
  /** Lines for csv (less the header) and ndjson; undefined for raw bytes. */
  rows: number | undefined;
}

const NEWLINE = 0x0a;

/**
 * Sits between source and sink: counts bytes and rows and hashes what passes,
 * so the node can report progress and the checksum of exactly what it wrote.
 */
export class CopyMeter extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private newlines = 0;
  private lastByte = -1;

  constructor(private readonly format: JobFormat) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.format !== 'raw' && chunk.length > 0) {
      for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) this.newlines += 1;
      this.lastByte = chunk[chunk.length - 1] ?? -1;
    }
    callback(null, chunk);
  }

  reading(): MeterReading {
    if (this.format === 'raw') return { bytes: this.bytes, rows: undefined };
    const lines = this.newlines + (this.bytes > 0 && this.lastByte !== NEWLINE ? 1 : 0);
    return { bytes: this.bytes, rows: this.format === 'csv' ? Math.max(0, lines - 1) : lines };
  }

  /** Only meaningful once the stream has ended. */
  sha256(): string {
    return this.hash.copy().digest('hex');
  }
}
