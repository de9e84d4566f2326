/**
 * Buffers that a source reads into and gets back once the sink is done with
 * them, so a copy does not allocate (and later collect) a fresh buffer per
 * read. A fresh 64 KiB-1 MiB buffer per read is a new mapping to fault in and a
 * GC to free it: on a 2-core node that cost more CPU than encrypting the data.
 *
 * The copy hands a chunk back with `release` after its sink write completed
 * (the write callback: TLS has encrypted it, or the disk has it). Only chunks
 * this pool handed out, each once, free their buffer: a second hand-back would
 * mean two reads into one buffer at once. A chunk never handed back (a write
 * that failed) is left to the GC, and a new buffer takes its place.
 */
export class ChunkPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly handedOut = new WeakSet<Buffer>();

  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  /** A buffer of `size` bytes to read into: one given back, else a new one. */
  take(): Buffer {
    const reused = this.free.pop();
    return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(this.size);
  }

  /** The part of a taken buffer the source passes on; only this exact chunk frees it. */
  handOut(buffer: Buffer, length: number): Buffer {
    const chunk = buffer.subarray(0, length);
    this.handedOut.add(chunk);
    return chunk;
  }

  /** A taken buffer that was not handed out (the read failed or found nothing). */
  giveBack(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer.buffer as ArrayBuffer);
  }

  /** Whether `chunk` is one this pool handed out and has not had back. */
  lends(chunk: Buffer): boolean {
    return this.handedOut.has(chunk);
  }

  /** The sink is done with every byte of the chunk: its buffer may be read into again. */
  readonly release = (chunk: Buffer): void => {
    if (this.handedOut.delete(chunk)) this.giveBack(chunk);
  };
}
