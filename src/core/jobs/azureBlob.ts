import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type BlobClient,
  type BlockBlobClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { OpenIrError } from '../../shared/errors';
import type { Connector } from '../connector';
import type { OpenedSink, OpenedSource } from './copyEnds';
import type { ResolvedCredential } from './credentialRecords';
import { markTransient } from './retry';

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

export type BlobCredential = Extract<ResolvedCredential, { type: 'azureBlob' }>;

export interface BlobTuning {
  /** Bytes per staged block (the sink). */
  blockSize: number;
  /** Blocks staged at once (the sink). */
  concurrency: number;
  /** Bytes per ranged read (the source). */
  partSize: number;
  /** Ranged reads at once (the source). */
  readConcurrency: number;
}

const MIB = 1024 * 1024;
export const DEFAULT_BLOB_TUNING: BlobTuning = {
  blockSize: 8 * MIB,
  concurrency: 8,
  partSize: 4 * MIB,
  readConcurrency: 4,
};

/** Tuning from the host's environment (`OPENIR_BLOB_BLOCK_MIB`, `OPENIR_BLOB_CONCURRENCY`), else the defaults. */
export function blobTuning(env: NodeJS.ProcessEnv = process.env): BlobTuning {
  const int = (value: string | undefined, min: number, max: number, fallback: number) => {
    const n = Number(value);
    return value !== undefined && Number.isInteger(n) && n >= min && n <= max ? n : fallback;
  };
  // Azure takes blocks up to 4000 MiB; 50,000 blocks of 8 MiB is a 390 GiB blob.
  const blockMib = int(env.OPENIR_BLOB_BLOCK_MIB, 1, 4000, DEFAULT_BLOB_TUNING.blockSize / MIB);
  const concurrency = int(env.OPENIR_BLOB_CONCURRENCY, 1, 64, DEFAULT_BLOB_TUNING.concurrency);
  return { ...DEFAULT_BLOB_TUNING, blockSize: blockMib * MIB, concurrency };
}

/** An http.Agent whose sockets come from the Connector: the proxy setting applies to every SDK request. */
function connectorAgent(
  connector: Connector,
  accountUrl: string,
  failed: (error: unknown) => void,
): http.Agent {
  const url = new URL(accountUrl);
  const secure = url.protocol === 'https:';
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  // node:https checks the agent's protocol; the TLS is ours (below), over the tunnel.
  if (secure) Reflect.set(agent, 'protocol', 'https:');
  const origin = url.origin;
  agent.createConnection = (_options, callback) => {
    // The name checked against the certificate: the host, also when it is an IP address (no SNI then).
    const opened = secure
      ? connector.openTlsTunnel(origin, { host: url.hostname.replace(/^\[|\]$/g, '') })
      : connector.openTunnel(origin);
    opened.then(
      (socket) => callback?.(null, socket),
      (error: Error) => {
        failed(error);
        callback?.(error, undefined as unknown as Duplex);
      },
    );
    return undefined;
  };
  return agent;
}

/** The storage account name: the host's first label, or the first path segment of an emulator URL. */
export function accountNameOf(accountUrl: string): string {
  const url = new URL(accountUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) || host === 'localhost') return url.pathname.split('/')[1] ?? '';
  return host.split('.')[0] ?? '';
}

/** `Key=value;…` of a connection string. */
function connectionStringParts(text: string): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return parts;
}

/**
 * The last failure to open a connection for a credential in use: the SDK
 * rewraps it (a proxy's refusal, say, loses its code), so the mapping looks here.
 */
const connectFailures = new WeakMap<BlobCredential, unknown>();

export interface BlobContainer {
  container: ContainerClient;
  /** Closes the pooled connections. */
  close(): void;
}

/** A client for the credential's container, signed by its key or SAS, through the node's proxy setting. */
export function openContainer(credential: BlobCredential, connector: Connector): BlobContainer {
  const secret = credential.secret;
  if (!secret) {
    throw new OpenIrError(
      'BLOB_AUTH_FAILED',
      `The credential "${credential.name}" has no account key, SAS token or connection string saved.`,
      {
        fix: `Save it with \`openir credential set ${credential.name} --type azureBlob … --secret-stdin\`.`,
      },
    );
  }
  const base = credential.accountUrl.replace(/\/+$/, '');
  const agent = connectorAgent(connector, base, (error) => connectFailures.set(credential, error));
  // One try per request: a failed try of the copy is retried by the copy, resuming (retry.ts).
  const options = { agent, retryOptions: { maxTries: 1 } } as StoragePipelineOptions;
  let key: string | undefined;
  let sas: string | undefined;
  let account = accountNameOf(base);
  if (credential.auth === 'key') key = secret;
  else if (credential.auth === 'sas') sas = secret;
  else {
    const parts = connectionStringParts(secret);
    key = parts.accountkey;
    sas = parts.sharedaccesssignature;
    account = parts.accountname ?? account;
    if (!key && !sas) {
      throw new OpenIrError(
        'BLOB_AUTH_FAILED',
        `The connection string of "${credential.name}" has neither AccountKey nor SharedAccessSignature.`,
        { fix: 'Copy the connection string again from the storage account (Access keys or SAS).' },
      );
    }
  }
  const url = `${base}/${credential.container}`;
  const container = key
    ? new ContainerClient(url, new StorageSharedKeyCredential(account, key), options)
    : new ContainerClient(`${url}?${(sas ?? '').replace(/^\?/, '')}`, new AnonymousCredential(), options);
  return { container, close: () => agent.destroy() };
}

interface StorageFailure {
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { errorCode?: string; message?: string };
  name?: string;
}

const TLS_UNTRUSTED =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO/;

/** A storage answer or a network failure as the coded error a user can act on. */
export function blobError(
  error: unknown,
  credential: BlobCredential,
  what: string,
  side: 'source' | 'sink',
): unknown {
  if (error instanceof OpenIrError) return error;
  const e = (error ?? {}) as StorageFailure;
  if (e.name === 'AbortError') return error;
  const where = `${credential.accountUrl.replace(/\/+$/, '')}/${credential.container}`;
  const status = e.statusCode;
  const storageCode = e.details?.errorCode ?? (typeof e.code === 'string' ? e.code : '');
  const said = e.details?.message ?? e.message ?? '';
  const again = `openir credential set ${credential.name} --type azureBlob --account-url … --container … --auth … --secret-stdin`;
  if (status === 403) {
    // Azure words it "Signature not valid in the specified time frame"; the emulator does not say:
    // the token's own `se` (signed expiry) tells.
    if (sasExpired(credential) || /expire|not valid in the specified time/i.test(said)) {
      return new OpenIrError('BLOB_SAS_EXPIRED', `The SAS token of "${credential.name}" has expired.`, {
        fix: `Make a new SAS token and save it: \`${again}\`.`,
        cause: error,
      });
    }
    if (/PermissionMismatch|ResourceTypeMismatch|ServiceMismatch/i.test(storageCode)) {
      return new OpenIrError(
        'BLOB_PERMISSION_DENIED',
        `Azure Blob Storage at ${where} refused to let "${credential.name}" ${what}: the SAS token lacks that permission (${storageCode}).`,
        {
          fix:
            side === 'sink'
              ? 'Use a SAS token with create and write permission on the container.'
              : 'Use a SAS token with read permission on the container.',
          cause: error,
        },
      );
    }
    return new OpenIrError(
      'BLOB_AUTH_FAILED',
      `Azure Blob Storage at ${where} refused the credentials of "${credential.name}" (${storageCode || 'HTTP 403'}).`,
      {
        fix: `Check the account key, SAS token or connection string (and the account URL), then save it again: \`${again}\`.`,
        cause: error,
      },
    );
  }
  if (status === 404) {
    const container = /ContainerNotFound/i.test(storageCode);
    return new OpenIrError(
      'BLOB_NOT_FOUND',
      container
        ? `The container "${credential.container}" does not exist at ${credential.accountUrl}.`
        : `Cannot ${what}: not found at ${where} (${storageCode || 'HTTP 404'}).`,
      {
        fix: container
          ? 'Create the container, or correct it in the credential.'
          : 'Check the blob name in the job.',
        cause: error,
      },
    );
  }
  const code = side === 'source' ? 'DATA_SOURCE_FAILED' : 'DATA_SINK_FAILED';
  if (status !== undefined && status > 0) {
    const failure = new OpenIrError(
      code,
      `Azure Blob Storage at ${where} answered HTTP ${status}${storageCode ? ` ${storageCode}` : ''} when asked to ${what}.`,
      {
        fix: 'The storage service is busy or failing; the job tried again. Run it again later.',
        cause: error,
      },
    );
    return status >= 500 || status === 429 || status === 408 || status === 412
      ? markTransient(failure)
      : failure;
  }
  // No answer: a network failure, told apart by its cause's code. A refusal by the proxy
  // (PROXY_AUTH_FAILED, …) is the connector's own coded error: as it was.
  const connectFailure = connectFailures.get(credential);
  connectFailures.delete(credential);
  if (connectFailure instanceof OpenIrError) return connectFailure;
  const cause = causeCode(error) || causeCode(connectFailure);
  if (TLS_UNTRUSTED.test(cause) || TLS_UNTRUSTED.test(said)) {
    return new OpenIrError(
      'BLOB_TLS_UNTRUSTED',
      `The TLS certificate of ${credential.accountUrl} is not trusted by this node (${cause || said}).`,
      {
        fix: 'Check the account URL; for a private endpoint, trust its CA on this machine (NODE_EXTRA_CA_CERTS).',
        cause: error,
      },
    );
  }
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN'].includes(cause)
  ) {
    return markTransient(
      new OpenIrError('BLOB_UNREACHABLE', `Cannot reach ${credential.accountUrl} (${cause}).`, {
        fix: 'Check the account URL and that this node (or its proxy) can reach the storage account.',
        cause: error,
      }),
    );
  }
  // A reset, a closed connection: another try may well get through, and resumes.
  return markTransient(
    new OpenIrError(code, `The connection to ${credential.accountUrl} failed: ${said || cause}.`, {
      fix: 'Check the connection to the storage account; the job tried again a few times.',
      cause: error,
    }),
  );
}

/** Whether the credential's SAS token (alone or in a connection string) says it has expired. */
function sasExpired(credential: BlobCredential, now = Date.now()): boolean {
  const token =
    credential.auth === 'sas'
      ? credential.secret
      : credential.auth === 'connectionString'
        ? connectionStringParts(credential.secret ?? '').sharedaccesssignature
        : undefined;
  if (!token) return false;
  const expiry = Date.parse(new URLSearchParams(token.replace(/^\?/, '')).get('se') ?? '');
  return Number.isFinite(expiry) && expiry < now;
}

/** The first socket-like code down an error's causes (RestError wraps the Node error). */
function causeCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth += 1) {
    const code: unknown = Reflect.get(current, 'code');
    if (typeof code === 'string' && /^E[A-Z]+|CERT|SELF_SIGNED|UNABLE_TO|DEPTH_ZERO/.test(code)) return code;
    current = Reflect.get(current, 'cause');
  }
  return '';
}

/**
 * The blob as a byte stream from `offset`: `readConcurrency` ranged GETs of
 * `partSize` in flight, each pinned to the ETag seen first (If-Match), given
 * on in order, one part per chunk (so a resume checkpoint falls on a part's
 * edge). A retry opens again at the offset reached with a Range; a changed
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
    const stream = Readable.from(rangedParts(blob, credential, blobName, start, size, etag, tuning, signal), {
      objectMode: false,
      highWaterMark: 1,
    });
    stream.once('close', () => opened.close());
    return { stream, offset: start, size: size - start, ...(etag ? { validator: etag } : {}) };
  } catch (error) {
    opened.close();
    throw error;
  }
}

async function* rangedParts(
  blob: BlobClient,
  credential: BlobCredential,
  blobName: string,
  start: number,
  size: number,
  etag: string,
  tuning: BlobTuning,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal.addEventListener('abort', stop, { once: true });
  const inFlight: Promise<Buffer>[] = [];
  let next = start;
  const launch = () => {
    while (inFlight.length < tuning.readConcurrency && next < size) {
      const from = next;
      const count = Math.min(tuning.partSize, size - from);
      next += count;
      const part = readPart(blob, from, count, etag, controller.signal).catch((error: unknown) => {
        throw blobError(error, credential, `read the blob "${blobName}"`, 'source');
      });
      part.catch(() => undefined);
      inFlight.push(part);
    }
  };
  try {
    launch();
    for (let part = inFlight.shift(); part; part = inFlight.shift()) {
      const bytes = await part;
      launch();
      yield bytes;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    controller.abort();
  }
}

async function readPart(
  blob: BlobClient,
  from: number,
  count: number,
  etag: string,
  signal: AbortSignal,
): Promise<Buffer> {
  const answer = await blob.download(from, count, {
    abortSignal: signal,
    ...(etag ? { conditions: { ifMatch: etag } } : {}),
  });
  const body = answer.readableStreamBody;
  const bytes = Buffer.allocUnsafe(count);
  let filled = 0;
  try {
    if (body) {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (filled + chunk.length > count) throw new Error('The storage service sent more bytes than asked.');
        chunk.copy(bytes, filled);
        filled += chunk.length;
      }
    }
  } catch (error) {
    // The SDK reports a connection that broke mid-body as an AbortError; only ours is a cancel.
    if ((error as Error).name === 'AbortError' && !signal.aborted) {
      throw Object.assign(new Error('the connection closed in the middle of a ranged read'), {
        code: 'ECONNRESET',
        cause: error,
      });
    }
    throw error;
  }
  if (filled !== count) {
    throw Object.assign(new Error(`The ranged read ended after ${filled} of ${count} bytes.`), {
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    });
  }
  return bytes;
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
    open(offset) {
      reused = found.filter((block) => block.offset + block.size <= offset);
      const reusedEnd = reused.reduce((end, block) => end + block.size, 0);
      if (reusedEnd !== offset) throw new Error(`The blob sink cannot start at byte ${offset}.`);
      writer = new BlockWriter(blob, jobId, offset, tuning, controller.signal, (error) =>
        blobError(error, credential, what, 'sink'),
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

/** Cuts the stream into blocks and stages them, at most `concurrency` at once (back-pressure beyond). */
class BlockWriter extends Writable {
  readonly staged: Block[] = [];
  private buffer: Buffer;
  private filled = 0;
  private position: number;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly jobId: string,
    start: number,
    private readonly tuning: BlobTuning,
    private readonly signal: AbortSignal,
    private readonly mapError: (error: unknown) => unknown,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.position = start;
    this.buffer = Buffer.allocUnsafe(tuning.blockSize);
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
      this.filled += n;
      at += n;
      if (this.filled === this.buffer.length) await this.stage();
    }
  }

  /** Stages the filled buffer; waits first while `concurrency` blocks are on their way. */
  private async stage(): Promise<void> {
    while (this.inFlight.size >= this.tuning.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const body = this.filled === this.buffer.length ? this.buffer : this.buffer.subarray(0, this.filled);
    const block: Block = {
      offset: this.position,
      size: body.length,
      id: blockIdFor(this.jobId, this.position),
    };
    this.position += body.length;
    this.buffer = Buffer.allocUnsafe(this.tuning.blockSize);
    this.filled = 0;
    const md5 = createHash('md5').update(body).digest();
    const sent: Promise<void> = this.blob
      .stageBlock(block.id, body, body.length, { transactionalContentMD5: md5, abortSignal: this.signal })
      .then(
        () => {
          this.staged.push(block);
        },
        (error: unknown) => {
          this.failure ??= this.mapError(error);
        },
      )
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}
