import { OpenIrError, type ErrorCode } from '../../shared/errors';

/** How a copy retries a transient failure: a bounded number of tries, exponential backoff with jitter. */
export interface RetryPolicy {
  /** Tries in all, the first included (1 = never retry). */
  attempts: number;
  /** The delay before the second try; doubled before each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** In [0, 1); Math.random by default (tests pass their own). */
  random?: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 500, maxDelayMs: 10_000 };

/** The delay before try `next` (2, 3, …): half the exponential step, plus a random part up to the other half. */
export function retryDelayMs(policy: RetryPolicy, next: number): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, next - 2));
  return Math.round(step / 2 + (policy.random ?? Math.random)() * (step / 2));
}

const marked = new WeakSet<object>();

/** Marks an error as worth another try (an HTTP 5xx/429 answer, say), whatever its code. */
export function markTransient<T extends object>(error: T): T {
  marked.add(error);
  return error;
}

/** Network failures that a new connection may well not meet. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  /** mysql2: the server closed the connection mid-query (restart, network). */
  'PROTOCOL_CONNECTION_LOST',
  /** MySQL/MariaDB: the connection was killed (KILL CONNECTION) or the server is shutting down, like PostgreSQL's 57P01. */
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
]);
const TRANSIENT_MESSAGE =
  /socket hang up|^aborted$|premature close|timed? ?out|connection terminated unexpectedly/i;
/** PostgreSQL: connection exceptions (class 08) and the server shutting down or restarting. */
const TRANSIENT_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;

/** Refusals another try would meet again: who we are, what we may touch, what exists. */
const PERMANENT_CODES = new Set<ErrorCode>([
  'LOCAL_PATH_NOT_ALLOWED',
  'CREDENTIAL_NOT_FOUND',
  'CREDENTIAL_TYPE_MISMATCH',
  'DATA_SOURCE_AUTH_FAILED',
  'DATA_SOURCE_MULTIPLE_STATEMENTS',
  'NODE_CREDENTIAL_REJECTED',
  'JOB_NOT_ASSIGNED',
  'JOB_NOT_FOUND',
  'NOT_REGISTERED',
  'INVALID_INPUT',
  'CONTROL_PLANE_TLS_PIN_MISMATCH',
  'PROXY_AUTH_FAILED',
  'BLOB_AUTH_FAILED',
  'BLOB_PERMISSION_DENIED',
  'BLOB_SAS_EXPIRED',
  'BLOB_NOT_FOUND',
  'BLOB_TLS_UNTRUSTED',
  'SINK_TABLE_NOT_FOUND',
  'SINK_DATA_REJECTED',
  'SFTP_HOST_KEY_MISMATCH',
  'SFTP_AUTH_FAILED',
  'SFTP_NOT_FOUND',
  'SFTP_PERMISSION_DENIED',
  'SFTP_DISK_FULL',
]);

/**
 * Whether a failed copy is worth another try: a dropped or reset connection, a
 * timeout, an HTTP 5xx/429 (marked where it is answered). Never an abort
 * (cancel), and never a refusal that names who or what (credentials, paths,
 * a job no longer ours), whatever network error it was found through.
 */
export function isTransient(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth += 1) {
    if (marked.has(current)) return true;
    if (current instanceof Error && current.name === 'AbortError') return false;
    if (current instanceof OpenIrError && PERMANENT_CODES.has(current.code)) return false;
    const code: unknown = Reflect.get(current, 'code');
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || TRANSIENT_SQLSTATE.test(code))) return true;
    const message: unknown = Reflect.get(current, 'message');
    if (typeof message === 'string' && TRANSIENT_MESSAGE.test(message)) return true;
    current = Reflect.get(current, 'cause');
  }
  return false;
}

/**
 * Socket errors in words: Node's own messages for them ("aborted", "read
 * ECONNRESET", "socket hang up") do not say what happened.
 */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  ECONNABORTED: 'the connection was aborted',
  EHOSTUNREACH: 'the host could not be reached',
  ENETUNREACH: 'the network could not be reached',
  EAI_AGAIN: 'the name could not be looked up for now',
  ERR_STREAM_PREMATURE_CLOSE: 'the connection closed before the end',
};

/** A short description of an error for a log line or a job's note. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code: unknown = Reflect.get(error, 'code');
  if (typeof code !== 'string') return error.message;
  const words = SOCKET_ERRORS[code];
  if (words) return `${words} (${code})`;
  return error.message.includes(code) ? error.message : `${error.message} (${code})`;
}
