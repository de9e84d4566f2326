import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

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
 * A file as a stream of chunks read into a few buffers that are used again.
 *
 * fs.createReadStream allocates a fresh buffer for every read. At 1 MiB per
 * read that is a new mapping to fault in and a GC to free it, which cost the
 * node more CPU than encrypting the upload; smaller reads cost more per byte
 * in stream and TLS overhead instead. Here the copy hands a chunk back with
 * `release` once its sink has finished writing it (the write callback: TLS has
 * encrypted it, or the disk has it), and only then is the buffer read into
 * again. A chunk that is never handed back (a write that failed) is simply
 * left to the GC, and a new buffer takes its place.
 */
export class FileChunks extends Readable {
  private readonly free: ArrayBuffer[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private position: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly options: FileChunksOptions,
  ) {
    super({ highWaterMark: options.chunkSize });
    this.position = options.start;
  }

  /** Gives a chunk's buffer back for the next read: the sink is done with every byte of it. */
  readonly release = (chunk: Buffer): void => {
    const buffer = chunk.buffer;
    if (!this.owned.has(buffer) || this.free.length >= this.options.keep) return;
    // Given back twice would mean two reads into one buffer at once.
    if (this.free.includes(buffer as ArrayBuffer)) return;
    this.free.push(buffer as ArrayBuffer);
  };

  override _read(): void {
    const length = Math.min(this.options.chunkSize, this.options.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const buffer = this.nextBuffer();
    this.handle.read(buffer, 0, length, this.position).then(
      ({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          // The file ended early (it shrank): the copy sees fewer bytes than it announced.
          this.release(buffer);
          this.push(null);
          return;
        }
        this.position += bytesRead;
        this.push(buffer.subarray(0, bytesRead));
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }

  private nextBuffer(): Buffer {
    const reused = this.free.pop();
    if (reused) return Buffer.from(reused);
    const buffer = Buffer.allocUnsafeSlow(this.options.chunkSize);
    this.owned.add(buffer.buffer);
    return buffer;
  }
}
