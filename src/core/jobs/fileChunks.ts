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
  /** The chunks pushed and not yet handed back: only these, each once, free their buffer. */
  private readonly handedOut = new WeakSet<Buffer>();
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
    // Exactly a chunk this stream pushed, once: a second hand-back would mean two reads into one
    // buffer at once, and a part of a chunk does not free the rest of it.
    if (!this.handedOut.delete(chunk)) return;
    this.keepForReuse(chunk.buffer as ArrayBuffer);
  };

  override _read(): void {
    const length = Math.min(this.options.chunkSize, this.options.end - this.position);
    if (length <= 0) {
      this.push(null);
      return;
    }
    const buffer = this.nextBuffer();
    this.handle
      .read(buffer, 0, length, this.position)
      .then(({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          // The file ended early (it shrank): the copy sees fewer bytes than it announced.
          this.keepForReuse(buffer.buffer as ArrayBuffer);
          this.push(null);
          return;
        }
        this.position += bytesRead;
        const chunk = buffer.subarray(0, bytesRead);
        this.handedOut.add(chunk);
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

  private keepForReuse(buffer: ArrayBuffer): void {
    if (this.free.length < this.options.keep) this.free.push(buffer);
  }

  private nextBuffer(): Buffer {
    const reused = this.free.pop();
    return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(this.options.chunkSize);
  }
}
