import { setTimeout as sleep } from 'node:timers/promises';
import { pipeline } from 'node:stream/promises';
import { OpenIrError } from '../../shared/errors';
import { CopyMeter, CopyTally, type MeterReading } from './meter';
import { DEFAULT_RETRY_POLICY, describeFailure, isTransient, retryDelayMs, type RetryPolicy } from './retry';
import type { CopyEnds, CopyRequest, OpenedSink, OpenedSource } from './copyEnds';

export interface CopyResult {
  bytes: number;
  rows: number | undefined;
  sha256: string;
  /** Tries it took (1 when nothing failed). */
  tries: number;
}

/** What the runner hears before a retry, to log and show. */
export interface RetryNotice {
  /** The try about to start (2, 3, …) and how many there may be in all. */
  next: number;
  of: number;
  delayMs: number;
  error: unknown;
}

export interface CopyOptions {
  retry?: Partial<RetryPolicy>;
  /** Called before each retry, once its delay is known. */
  onRetry?: (notice: RetryNotice) => void;
  /** Called when a retry starts, with the byte it resumes at (0: from the start). */
  onResume?: (offset: number) => void;
}

/**
 * The copy activity: source → meter → sink with back-pressure (stream.pipeline),
 * cancellable through `signal`, with the meter readable at any time for progress.
 *
 * A transient failure (a dropped connection, a timeout, an HTTP 5xx/429 from
 * the source or the staging endpoint) is retried a bounded number of times
 * with exponential backoff and jitter, resuming where both ends allow: the
 * sink says how many bytes it kept, the copy goes back to the meter's latest
 * checkpoint at or before that byte, and the source is opened there (a file
 * seeks, an HTTP GET asks for a range; a query starts over from 0, and so does
 * the sink). The checksum and row count are of the whole output either way.
 */
export class CopyActivity {
  private readonly tally: CopyTally;
  private readonly policy: RetryPolicy;
  /** The HTTP validator of the document the first try read, for If-Range on a resume. */
  private validator: string | undefined;

  constructor(
    private readonly ends: CopyEnds,
    private readonly request: CopyRequest,
    private readonly options: CopyOptions = {},
  ) {
    this.tally = new CopyTally(request.format);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  reading(): MeterReading {
    return this.tally.reading();
  }

  async run(signal: AbortSignal): Promise<CopyResult> {
    const of = Math.max(1, this.policy.attempts);
    for (let tries = 1; ; tries += 1) {
      try {
        const loaded = await this.runOnce(signal, tries > 1);
        const reading = this.tally.reading();
        // A sink that counts what it loaded (a table's COPY) is the truth about rows.
        const rows = loaded ?? reading.rows;
        return { bytes: reading.bytes, rows, sha256: this.tally.sha256(), tries };
      } catch (error) {
        if (signal.aborted || tries >= of || !isTransient(error)) throw gaveUp(error, tries);
        const delayMs = retryDelayMs(this.policy, tries + 1);
        this.options.onRetry?.({ next: tries + 1, of, delayMs, error });
        // A cancel during the wait ends the job as cancelled, at once.
        await sleep(delayMs, undefined, { signal });
      }
    }
  }

  /** One try; the rows the sink says it loaded, when it counts them. */
  private async runOnce(signal: AbortSignal, resume: boolean): Promise<number | undefined> {
    let sink: OpenedSink | null = null;
    let source: OpenedSource | null = null;
    try {
      // On a retry the sink says first what it kept; the copy resumes at a checkpoint no later.
      let from = 0;
      if (resume) {
        sink = await this.ends.openSink(this.request);
        from = this.tally.checkpointAtOrBefore(await sink.held()).bytes;
        // A sink of whole blocks continues at a block's end: go back to one that is also a checkpoint.
        for (
          let edge = sink.resumableAt?.(from) ?? from;
          edge !== from;
          edge = sink.resumableAt?.(from) ?? from
        )
          from = this.tally.checkpointAtOrBefore(edge).bytes;
      }
      source = await this.ends.openSource(
        {
          ...this.request.source,
          format: this.request.format,
          ...(from > 0 ? { offset: from } : {}),
          ...(from > 0 && this.validator !== undefined ? { validator: this.validator } : {}),
        },
        signal,
      );
      // A source that started over is a new version: resumes compare against it.
      if (source.offset === 0) this.validator = source.validator;
      // The source starts at `from` or, when it cannot seek, at 0: both are checkpoints.
      this.tally.restore(this.tally.checkpointAtOrBefore(source.offset));
      if (resume) this.options.onResume?.(source.offset);
      sink ??= await this.ends.openSink(this.request);
      const stream = sink.open(source.offset, source.size);
      await pipeline(source.stream, new CopyMeter(this.tally, stream, source.release), { signal });
      signal.throwIfAborted();
      await sink.commit();
      return sink.rows?.();
    } catch (error) {
      source?.stream.destroy();
      // A refusal by the staging endpoint surfaces as a broken pipe; its answer says why.
      const refusal = signal.aborted || !sink ? null : await sink.refusal();
      await sink?.abort().catch(() => undefined);
      throw refusal ?? error;
    }
  }
}

/** The last failure, saying how many tries it took when there were several. */
function gaveUp(error: unknown, tries: number): unknown {
  if (tries <= 1) return error;
  if (!(error instanceof OpenIrError)) {
    return new OpenIrError(
      'DATA_SINK_FAILED',
      `The copy failed: ${describeFailure(error)} (gave up after ${tries} tries).`,
      {
        fix: 'Check the connections to the data store and to the control plane, then run the job again.',
        cause: error,
      },
    );
  }
  return new OpenIrError(error.code, `${error.message} (gave up after ${tries} tries)`, {
    ...(error.fix ? { fix: error.fix } : {}),
    cause: error,
  });
}
