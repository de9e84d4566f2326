import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ChunkPool } from './chunkPool';

export interface FileChunksOptions {
  /** The first byte to read. */
  start: number;
  /** The byte to stop before (the file's size when the copy began); Infinity reads to the end. */
  end: number;
  /** How much one read asks for. */
  chunkSize: number;
  /** How many given-back buffers are kept for reuse. */
  keep: number;
}

/**
 * A file as a stream of chunks read into a few buffers that are used again
 * (ChunkPool): fs.createReadStream allocates a fresh buffer for every read.
 * Smaller reads would cost more per byte in stream and TLS overhead instead.
 */
export class FileChunks extends Readable {
  private readonly pool: ChunkPool;
  private position: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly options: FileChunksOptions,
  ) {
    super({ highWaterMark: options.chunkSize });
    this.pool = new ChunkPool(options.chunkSize, options.keep);
    this.position = options.start;
  }

  /** Gives a chunk's buffer back for the next read: the sink is done with every byte of it. */
  get release(): (chunk: Buffer) => void {
    return this.pool.release;
  }

  override _read(): void {
    const length = Math.min(this.options.chunkSize, this.options.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const buffer = this.pool.take();
    this.handle
      .read(buffer, 0, length, this.position)
      .then(({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          // The file ended early (it shrank): the copy sees fewer bytes than it announced.
          this.pool.giveBack(buffer);
          this.push(null);
          return;
        }
        this.position += bytesRead;
        const chunk = this.pool.handOut(buffer, bytesRead);
        // push() may run the next stage's write at once; what that throws fails the stream.
        this.push(chunk);
      })
      .catch((error: Error) => this.destroy(error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }
}
