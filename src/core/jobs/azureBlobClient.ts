import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { OpenIrError } from '../../shared/errors';
import type { Connector } from '../connector';
import type { ResolvedCredential } from './credentialRecords';
import { markTransient } from './retry';

/*
 * The Azure Blob side of azureBlob.ts: the credential and its tuning, a
 * container client whose every request goes through the node's proxy (an
 * http.Agent whose sockets come from the Connector), and storage failures
 * as coded errors. Imported only by azureBlob.ts, which is itself loaded on
 * a node's first blob job, so the SDK stays out of an idle host.
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
  // A node's memory holds concurrency + 1 blocks while it uploads: 8 blocks of 8 MiB grew a fresh
  // host's RSS by 90 MB copying 1 GB (goal < 64 MB); 4 MiB ones by 59 MB, as fast against Azurite
  // (bench/stores.ts: 99-118 against 98-122 MB/s). Eight in flight keep a WAN link busy. A source
  // of known size past 50,000 blocks (195 GiB) gets larger blocks (azureBlob.ts blockPlan).
  blockSize: 4 * MIB,
  concurrency: 8,
  // 8 MiB parts ran twice as fast as 4 MiB ones against Azurite (bench/stores.ts: 200 against
  // 100 MB/s, the SDK's downloadToFile 175-190); four in flight keep a WAN link busy.
  partSize: 8 * MIB,
  readConcurrency: 4,
};

/**
 * Tuning from the host's environment (`OPENIR_BLOB_BLOCK_MIB`, `OPENIR_BLOB_CONCURRENCY` for
 * uploads; `OPENIR_BLOB_READ_MIB`, `OPENIR_BLOB_READ_CONCURRENCY` for downloads), else the defaults.
 */
export function blobTuning(env: NodeJS.ProcessEnv = process.env): BlobTuning {
  const int = (value: string | undefined, min: number, max: number, fallback: number) => {
    const n = Number(value);
    return value !== undefined && Number.isInteger(n) && n >= min && n <= max ? n : fallback;
  };
  // Azure takes blocks up to 4000 MiB; 50,000 blocks of 4 MiB is a 195 GiB blob.
  const blockMib = int(env.OPENIR_BLOB_BLOCK_MIB, 1, 4000, DEFAULT_BLOB_TUNING.blockSize / MIB);
  const concurrency = int(env.OPENIR_BLOB_CONCURRENCY, 1, 64, DEFAULT_BLOB_TUNING.concurrency);
  const partMib = int(env.OPENIR_BLOB_READ_MIB, 1, 256, DEFAULT_BLOB_TUNING.partSize / MIB);
  const readConcurrency = int(env.OPENIR_BLOB_READ_CONCURRENCY, 1, 64, DEFAULT_BLOB_TUNING.readConcurrency);
  return { blockSize: blockMib * MIB, concurrency, partSize: partMib * MIB, readConcurrency };
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

export interface StorageFailure {
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
