import type { Readable, Writable } from 'node:stream';
import type { JobFormat, JobMode, JobSink, JobSource } from '../../shared/jobs';

/*
 * The two ends of a copy, as the copy activity sees them. Its own module so
 * the activity, the sources and the sinks share these types without importing
 * each other.
 */

export interface CopyRequest {
  jobId: string;
  attempt: number;
  source: JobSource;
  sink: JobSink;
  format: JobFormat;
  /** A table sink's load mode (append when absent). */
  mode?: JobMode;
}

/**
 * The source with the job's format, which a query source writes in (CSV or
 * NDJSON); on a retry, the byte to start at and the HTTP validator of the
 * document the first try read.
 */
export type SourceRequest = JobSource & { format: JobFormat; offset?: number; validator?: string };

/** Opens the two ends of a copy; the runner hands in the real ones, tests may hand in others. */
export interface CopyEnds {
  openSource(source: SourceRequest, signal: AbortSignal): Promise<OpenedSource>;
  openSink(request: CopyRequest): Promise<OpenedSink>;
}

/** A source's byte stream and where in the source it starts. */
export interface OpenedSource {
  stream: Readable;
  /**
   * The byte of the source the stream starts at: the offset asked for, or 0
   * when the source cannot start there (a query, an HTTP answer without a
   * usable range, a changed document). The copy then starts over from 0.
   */
  offset: number;
  /**
   * What identifies this version of the source (a file's size and mtime, an
   * HTTP document's strong ETag or Last-Modified): a resume goes on only if
   * it is unchanged.
   */
  validator?: string;
  /** How many bytes the stream will give, when known (a file, an HTTP body with Content-Length). */
  size?: number;
  /**
   * For a stream that reads into buffers it uses again (a file): hands a chunk
   * back once the sink has finished writing it. Until then its buffer is not
   * read into again.
   */
  release?: (chunk: Buffer) => void;
}

/**
 * Where a copy writes. One per try of a copy: `held` (on a retry) says how much
 * an earlier try left there, `open` gives the stream from a byte offset, then
 * commit (make it visible) or abort (leave nothing visible behind).
 */
export interface OpenedSink {
  /**
   * How many bytes of this job attempt's output the far end already holds from
   * an earlier try, which this try may continue after; 0 when it cannot resume.
   */
  held(): Promise<number>;
  /**
   * For a sink that keeps whole pieces (a blob's blocks): the latest byte at or
   * before `offset` it can continue from (0 always can). Absent: any byte up
   * to what `held` said.
   */
  resumableAt?(offset: number): number;
  /**
   * The stream to write to, starting at byte `offset` (0, or at most what
   * `held` said), with `size` bytes to come when the source knows. Called once.
   */
  open(offset: number, size?: number): Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** Why the other end refused the data, when it answered so; null otherwise. */
  refusal(): Promise<unknown>;
  /** For a sink that counts what it loaded (a table's COPY): the rows it took, once committed. */
  rows?(): number | undefined;
}
