import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { BlobClient, BlockBlobClient } from '@azure/storage-blob';
import { OpenIrError } from '../../shared/errors';
import type { Connector } from '../connector';
import type { OpenedSink, OpenedSource } from './copyEnds';
import {
  blobError,
  blobTuning,
  openContainer,
  type BlobCredential,
  type BlobTuning,
  type StorageFailure,
} from './azureBlobClient';

export {
  accountNameOf,
  blobError,
  blobTuning,
  DEFAULT_BLOB_TUNING,
  openContainer,
  type BlobContainer,
  type BlobCredential,
  type BlobTuning,
} from './azureBlobClient';

/*
 * Azure Blob Storage as a source (parallel ranged reads, streamed in order)
 * and a sink (a block blob: parallel blocks, committed at the end). Loaded on
 * first use (the SDK is several MB resident that an idle node should not
 * carry): sources.ts and jobService.ts import this module dynamically.
 *
 * Every request goes through the node's proxy setting: the SDK gets an
 * http.Agent whose sockets come from the Connector (a CONNECT tunnel through
 * the custom or system proxy, with its authentication; TLS on top for https).
 */

/**
 * The blob as a byte stream from `offset`: `readConcurrency` ranged GETs of
 * `partSize` in flight, each pinned to the ETag seen first (If-Match), given
 * on in order (RangedReader). A retry opens again at the offset reached with a Range; a changed
 * blob (another ETag) is read again from the start.
 */
export async function openBlobSource(
  connector: Connector,
  credential: BlobCredential,
  blobName: string,
  request: { offset?: number; validator?: string },
  signal: AbortSignal,
  tuning: BlobTuning = blobTuning(),
): Promise<OpenedSource> {
  const opened = openContainer(credential, connector);
  try {
    const blob = opened.container.getBlobClient(blobName);
    const props = await blob.getProperties({ abortSignal: signal }).catch((error: unknown) => {
      throw blobError(error, credential, `read the blob "${blobName}"`, 'source');
    });
    const size = props.contentLength ?? 0;
    const etag = props.etag ?? '';
    const asked = request.offset ?? 0;
    const start = asked > 0 && asked <= size && request.validator === etag ? asked : 0;
    const fail = (error: unknown) => blobError(error, credential, `read the blob "${blobName}"`, 'source');
    const stream = new RangedReader(blob, fail, start, size, etag, tuning, signal);
    stream.once('close', () => opened.close());
    return { stream, offset: start, size: size - start, ...(etag ? { validator: etag } : {}) };
  } catch (error) {
    opened.close();
    throw error;
  }
}

interface Part {
  from: number;
  count: number;
  filled: number;
  /** Chunks that came before this part's turn (the socket's own buffers, not copied). */
  early: Buffer[];
  ended: boolean;
}

/**
 * The blob in order from `start`, as `readConcurrency` ranged GETs of
 * `partSize` in flight. The part whose turn it is streams straight through;
 * parts ahead keep the chunks their socket gave (no copy) until their turn.
 * Copying every part into one buffer first, then writing it, took about twice
 * the CPU of the SDK's `downloadToFile` and halved the rate. A new part is
 * started only while the reader is not behind, so memory stays at about
 * `readConcurrency × partSize`.
 */
class RangedReader extends Readable {
  private readonly parts: Part[] = [];
  private next: number;
  private readonly controller = new AbortController();
  private readonly stop = () => this.controller.abort();

  constructor(
    private readonly blob: BlobClient,
    private readonly fail: (error: unknown) => unknown,
    start: number,
    private readonly size: number,
    private readonly etag: string,
    private readonly tuning: BlobTuning,
    private readonly signal: AbortSignal,
  ) {
    super({ highWaterMark: tuning.partSize });
    this.next = start;
    signal.addEventListener('abort', this.stop, { once: true });
    if (start >= size) this.push(null);
  }

  override _read(): void {
    // Asked for more: a part must be under way, or the stream never pushes again.
    this.launch(true);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.signal.removeEventListener('abort', this.stop);
    this.controller.abort();
    callback(error);
  }

  /** Starts parts while slots are free and, unless `asked`, while the reader keeps up. */
  private launch(asked = false): void {
    while (
      !this.destroyed &&
      this.parts.length < this.tuning.readConcurrency &&
      this.next < this.size &&
      (asked || this.readableLength < this.readableHighWaterMark)
    ) {
      const count = Math.min(this.tuning.partSize, this.size - this.next);
      const part: Part = { from: this.next, count, filled: 0, early: [], ended: false };
      this.next += count;
      this.parts.push(part);
      this.fetchPart(part).catch((error: unknown) => {
        if (!this.destroyed) this.destroy(this.fail(rangedReadFailure(error, this.signal)) as Error);
      });
    }
  }

  private async fetchPart(part: Part): Promise<void> {
    const answer = await this.blob.download(part.from, part.count, {
      abortSignal: this.controller.signal,
      ...(this.etag ? { conditions: { ifMatch: this.etag } } : {}),
    });
    const body = answer.readableStreamBody;
    if (!body) throw new Error('The storage service sent no body for a ranged read.');
    await new Promise<void>((resolve, reject) => {
      body.on('data', (chunk: Buffer) => {
        part.filled += chunk.length;
        if (part.filled > part.count) {
          reject(new Error('The storage service sent more bytes than asked.'));
          return;
        }
        if (this.parts[0] === part) this.push(chunk);
        else part.early.push(chunk);
      });
      body.once('end', resolve);
      body.once('error', reject);
    });
    if (part.filled !== part.count) {
      throw Object.assign(new Error(`The ranged read ended after ${part.filled} of ${part.count} bytes.`), {
        code: 'ERR_STREAM_PREMATURE_CLOSE',
      });
    }
    part.ended = true;
    this.advance();
  }

  /** Passes the turn on past every finished part, handing over what the next ones kept. */
  private advance(): void {
    while (this.parts[0]?.ended) {
      this.parts.shift();
      const head = this.parts[0];
      if (head) for (const chunk of head.early.splice(0)) this.push(chunk);
    }
    if (this.parts.length === 0 && this.next >= this.size) this.push(null);
    else this.launch();
  }
}

/** The SDK reports a connection that broke mid-body as an AbortError; only ours is a cancel. */
function rangedReadFailure(error: unknown, signal: AbortSignal): unknown {
  if ((error as Error).name === 'AbortError' && !signal.aborted) {
    return Object.assign(new Error('the connection closed in the middle of a ranged read'), {
      code: 'ECONNRESET',
      cause: error,
    });
  }
  return error;
}

/** Block ids are the same length in one blob: a digest of the job id, then the block's offset. */
export function blockIdFor(jobId: string, offset: number): string {
  const prefix = createHash('sha256').update(jobId).digest('hex').slice(0, 16);
  return Buffer.from(`${prefix}-${String(offset).padStart(15, '0')}`).toString('base64');
}

function blockOffsetOf(jobId: string, id: string): number | null {
  const prefix = createHash('sha256').update(jobId).digest('hex').slice(0, 16);
  const text = Buffer.from(id, 'base64').toString('utf8');
  const match = /^([0-9a-f]{16})-(\d{15})$/.exec(text);
  return match && match[1] === prefix ? Number(match[2]) : null;
}

interface Block {
  offset: number;
  size: number;
  id: string;
}

/**
 * A block blob written by one job: blocks of `blockSize` staged in parallel
 * (`concurrency` at once), each with its MD5 for the service to check, then
 * one commit of the block list. Until the commit nothing is visible (and a
 * blob that existed keeps its old content), so a failed or cancelled job
 * leaves nothing half-written. Block ids come from the job id and the
 * block's offset: a retry lists the uncommitted blocks and continues after
 * the ones already there. A SAS with only create/write permission cannot
 * list them (403): the retry then stages every block again.
 */
export async function openBlobSink(
  connector: Connector,
  credential: BlobCredential,
  blobName: string,
  jobId: string,
  tuning: BlobTuning = blobTuning(),
): Promise<OpenedSink> {
  const opened = openContainer(credential, connector);
  const blob = opened.container.getBlockBlobClient(blobName);
  const controller = new AbortController();
  /** Uncommitted blocks of this job found by `held`, contiguous from byte 0. */
  let found: Block[] = [];
  let writer: BlockWriter | null = null;
  let reused: Block[] = [];
  const what = `write the blob "${blobName}"`;
  return {
    async held() {
      const list = await blob.getBlockList('uncommitted').catch((error: unknown) => {
        const e = error as StorageFailure;
        // No blob yet (no block either), or a write-only SAS that may not list: start from 0.
        if (e.statusCode === 404 || e.statusCode === 403) return null;
        throw blobError(error, credential, what, 'sink');
      });
      const byOffset = new Map<number, Block>();
      for (const block of list?.uncommittedBlocks ?? []) {
        const offset = block.name === undefined ? null : blockOffsetOf(jobId, block.name);
        if (offset !== null && block.name) byOffset.set(offset, { offset, size: block.size, id: block.name });
      }
      found = [];
      let end = 0;
      for (let block = byOffset.get(0); block && block.size > 0; block = byOffset.get(end)) {
        found.push(block);
        end += block.size;
      }
      return end;
    },
    resumableAt(offset) {
      let end = 0;
      for (const block of found) {
        if (block.offset + block.size > offset) break;
        end = block.offset + block.size;
      }
      return end;
    },
    open(offset, size) {
      reused = found.filter((block) => block.offset + block.size <= offset);
      const reusedEnd = reused.reduce((end, block) => end + block.size, 0);
      if (reusedEnd !== offset) throw new Error(`The blob sink cannot start at byte ${offset}.`);
      const blocksLeft = MAX_BLOCKS - reused.length;
      writer = new BlockWriter(
        blob,
        jobId,
        offset,
        blockPlan(tuning, size, blocksLeft),
        blocksLeft,
        controller.signal,
        (error) => blobError(error, credential, what, 'sink'),
      );
      return writer;
    },
    async commit() {
      const blocks = [...reused, ...(writer?.staged ?? [])];
      try {
        await blob.commitBlockList(
          blocks.map((block) => block.id),
          { abortSignal: controller.signal },
        );
      } catch (error) {
        throw blobError(error, credential, what, 'sink');
      } finally {
        opened.close();
      }
    },
    async abort() {
      controller.abort();
      opened.close();
    },
    refusal: async () => null,
  };
}

/** Azure's limits for a block blob: 50,000 blocks of at most 4000 MiB. */
export const MAX_BLOCKS = 50_000;
const MIB = 1024 * 1024;
const MAX_BLOCK_BYTES = 4000 * MIB;
/** A stream of unknown size doubles its block size this many times, at even steps of the 50,000 blocks. */
const GROWTH_STEPS = 5;

/** How a writer cuts its blocks: their size, how many at once, and (unknown size) when they grow. */
export interface BlockPlan {
  blockSize: number;
  concurrency: number;
  /** For a stream of unknown size: the block size doubles after every this many blocks. */
  growEvery: number | null;
}

/**
 * Fewer blocks at once when they are larger than tuned, so the bytes in
 * flight stay those of the tuning (8 blocks of 4 MiB), but never fewer than 2.
 */
export function concurrencyFor(
  tuning: Pick<BlobTuning, 'blockSize' | 'concurrency'>,
  blockSize: number,
): number {
  const budget = tuning.blockSize * tuning.concurrency;
  return Math.max(2, Math.min(tuning.concurrency, Math.floor(budget / blockSize)));
}

/**
 * The plan for `size` bytes still to come, `blocksLeft` blocks left in the
 * blob. A size that the tuned blocks hold keeps them; a larger one gets
 * blocks (whole MiB) that fit it in the blocks left. A stream of unknown size
 * (a query, HTTP without Content-Length) starts with the tuned blocks and
 * doubles them at every fifth of the blocks left: 4 MiB blocks hold 195 GiB,
 * growing ones about 1.2 TiB.
 */
export function blockPlan(tuning: BlobTuning, size: number | undefined, blocksLeft: number): BlockPlan {
  if (size === undefined)
    return {
      blockSize: tuning.blockSize,
      concurrency: tuning.concurrency,
      growEvery: Math.max(1, Math.floor(blocksLeft / GROWTH_STEPS)),
    };
  const blockSize =
    size <= tuning.blockSize * blocksLeft
      ? tuning.blockSize
      : Math.min(MAX_BLOCK_BYTES, Math.ceil(size / Math.max(1, blocksLeft) / MIB) * MIB);
  return { blockSize, concurrency: concurrencyFor(tuning, blockSize), growEvery: null };
}

/**
 * Cuts the stream into blocks and stages them, at most `concurrency` at once
 * (back-pressure beyond). A block's buffer is filled again once its stage has
 * succeeded: a fresh buffer per block (8 MiB then) cost a page fault per 4 KiB on
 * the first copy into it, and a full garbage collection every few blocks,
 * more CPU than the copy itself. Each block's MD5 is taken chunk by chunk as
 * the chunk is copied in, while its bytes are still in the CPU's cache.
 */
export class BlockWriter extends Writable {
  readonly staged: Block[] = [];
  private blockSize: number;
  private concurrency: number;
  private buffer: Buffer;
  private md5 = createHash('md5');
  private readonly spare: Buffer[] = [];
  private filled = 0;
  private position: number;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private stagedCount = 0;

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly jobId: string,
    start: number,
    private readonly plan: BlockPlan,
    /** Blocks the blob may still take (Azure's 50,000 less those reused). */
    private readonly blocksLeft: number,
    private readonly signal: AbortSignal,
    private readonly mapError: (error: unknown) => unknown,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.position = start;
    this.blockSize = plan.blockSize;
    this.concurrency = plan.concurrency;
    this.buffer = Buffer.allocUnsafeSlow(plan.blockSize);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      if (this.filled > 0) await this.stage();
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
      this.staged.sort((a, b) => a.offset - b.offset);
    })().then(() => callback(), callback);
  }

  private async take(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.failure) throw this.failure;
      const n = Math.min(chunk.length - at, this.buffer.length - this.filled);
      chunk.copy(this.buffer, this.filled, at, at + n);
      this.md5.update(n === chunk.length ? chunk : chunk.subarray(at, at + n));
      this.filled += n;
      at += n;
      if (this.filled === this.buffer.length) await this.stage();
    }
  }

  /** Doubles the block size (a stream of unknown size past a step), with fewer at once; old spares go. */
  private grow(): void {
    const next = Math.min(MAX_BLOCK_BYTES, this.blockSize * 2);
    if (next === this.blockSize) return;
    this.blockSize = next;
    this.concurrency = Math.min(this.concurrency, concurrencyFor(this.plan, next));
    this.spare.length = 0;
  }

  /** Stages the filled buffer; waits first while `concurrency` blocks are on their way. */
  private async stage(): Promise<void> {
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    if (this.stagedCount >= this.blocksLeft) {
      // Azure would refuse only the commit, after the last block: stop at the first block past the limit.
      throw new OpenIrError(
        'DATA_SINK_FAILED',
        `The blob would need more than ${MAX_BLOCKS.toLocaleString('en')} blocks (the last ones of ${this.blockSize / MIB} MiB), Azure's limit for a block blob; the source did not say its size.`,
        {
          fix: `Set OPENIR_BLOB_BLOCK_MIB on the node to a larger starting block size (up to 4000), restart it, and run the job again.`,
        },
      );
    }
    this.stagedCount += 1;
    if (this.plan.growEvery !== null && this.stagedCount % this.plan.growEvery === 0) this.grow();
    const body = this.filled === this.buffer.length ? this.buffer : this.buffer.subarray(0, this.filled);
    const block: Block = {
      offset: this.position,
      size: body.length,
      id: blockIdFor(this.jobId, this.position),
    };
    this.position += body.length;
    const filledBuffer = this.buffer;
    this.buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
    this.filled = 0;
    const md5 = this.md5.digest();
    this.md5 = createHash('md5');
    const sent: Promise<void> = this.blob
      .stageBlock(block.id, body, body.length, { transactionalContentMD5: md5, abortSignal: this.signal })
      .then(
        () => {
          this.staged.push(block);
          // The SDK is done with the body once the service answered; a failed one is left to the GC.
          if (filledBuffer.length === this.blockSize) this.spare.push(filledBuffer);
        },
        (error: unknown) => {
          this.failure ??= this.mapError(error);
        },
      )
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}
