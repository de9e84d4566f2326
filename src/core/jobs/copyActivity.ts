import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { JobFormat, JobSink, JobSource } from '../../shared/jobs';
import { CopyMeter, type MeterReading } from './meter';
import type { OpenedSink } from './sinks';

export interface CopyRequest {
  jobId: string;
  attempt: number;
  source: JobSource;
  sink: JobSink;
  format: JobFormat;
}

export interface CopyResult {
  bytes: number;
  rows: number | undefined;
  sha256: string;
}

/** The source with the job's format, which a query source writes in (CSV or NDJSON). */
export type SourceRequest = JobSource & { format: JobFormat };

/** Opens the two ends of a copy; the runner hands in the real ones, tests may hand in others. */
export interface CopyEnds {
  openSource(source: SourceRequest, signal: AbortSignal): Promise<Readable>;
  openSink(request: CopyRequest): Promise<OpenedSink>;
}

/**
 * The copy activity: source → meter → sink with back-pressure (stream.pipeline),
 * cancellable through `signal`, with the meter readable at any time for progress.
 */
export class CopyActivity {
  readonly meter: CopyMeter;

  constructor(
    private readonly ends: CopyEnds,
    private readonly request: CopyRequest,
  ) {
    this.meter = new CopyMeter(request.format);
  }

  reading(): MeterReading {
    return this.meter.reading();
  }

  async run(signal: AbortSignal): Promise<CopyResult> {
    const source = await this.ends.openSource(
      { ...this.request.source, format: this.request.format },
      signal,
    );
    let sink: OpenedSink;
    try {
      sink = await this.ends.openSink(this.request);
    } catch (error) {
      source.destroy();
      throw error;
    }
    try {
      await pipeline(source, this.meter, sink.stream, { signal });
      signal.throwIfAborted();
      await sink.commit();
    } catch (error) {
      // A refusal by the staging endpoint surfaces as a broken pipe; its answer says why.
      const refusal = signal.aborted ? null : await sink.refusal();
      await sink.abort().catch(() => undefined);
      throw refusal ?? error;
    }
    const reading = this.meter.reading();
    return { bytes: reading.bytes, rows: reading.rows, sha256: this.meter.sha256() };
  }
}
