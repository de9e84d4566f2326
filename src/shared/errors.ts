import { z } from 'zod';

/**
 * Stable error codes. Scripts match on these, so a code, once shipped, keeps
 * its meaning; messages may be reworded.
 */
export const ERROR_CODES = [
  'INVALID_INPUT',
  'UNAUTHORIZED',
  'AUTH_KEY_EMPTY',
  'AUTH_KEY_MALFORMED',
  'AUTH_KEY_WRONG_PREFIX',
  'AUTH_KEY_BAD_ENDPOINT',
  'AUTH_KEY_BAD_PIN',
  'AUTH_KEY_INVALID',
  'AUTH_KEY_REVOKED',
  /** A key made with `--expires-in` past its expiry. */
  'AUTH_KEY_EXPIRED',
  /** A key made with `--single-use` that already registered a node. */
  'AUTH_KEY_USED',
  /** This node registered and waits for an admin to approve it (`ir approve`); until then no jobs, no credentials. */
  'NODE_PENDING_APPROVAL',
  /** `ir approve --fingerprint` named another sync key than the node reports. */
  'SYNC_KEY_FINGERPRINT_MISMATCH',
  /** A node's sync key differs from the one approved for it: its peers refuse it until it is approved again. */
  'PEER_KEY_CHANGED',
  'IR_NOT_FOUND',
  'IR_EXISTS',
  /** An IR still has nodes: it is deleted only once they are removed. */
  'IR_NOT_EMPTY',
  /** No data factory (tenant) of that name on this control plane, or not one this token may see. */
  'FACTORY_NOT_FOUND',
  'FACTORY_EXISTS',
  /** The API token is valid but may not do this (e.g. a factory's token creating factories). */
  'FORBIDDEN',
  /** A shared IR already has its most linked IRs (100 by default; `ir update --max-links`). */
  'LINK_LIMIT_REACHED',
  /** The IR is not (or no longer) shared with the factory that links it or submits to its linked IR. */
  'IR_NOT_SHARED',
  /** A linked factory's job names a data-store credential that does not list that factory (`--allow-factory`). */
  'CREDENTIAL_NOT_SHARED',
  'NODE_LIMIT_REACHED',
  'NODE_NAME_TAKEN',
  /** Two live hosts use one node identity (a cloned machine, a data directory restored twice). */
  'DUPLICATE_NODE',
  'NODE_CREDENTIAL_REJECTED',
  'ALREADY_REGISTERED',
  'NOT_REGISTERED',
  'REGISTRATION_IN_PROGRESS',
  'SERVICE_STOPPED',
  'CONTROL_PLANE_UNREACHABLE',
  'PROXY_UNREACHABLE',
  'PROXY_AUTH_FAILED',
  'PROXY_AUTH_UNSUPPORTED',
  'PROXY_REFUSED',
  'CONTROL_PLANE_TLS_PIN_MISMATCH',
  'CONTROL_PLANE_TLS_FAILED',
  'CONTROL_PLANE_ERROR',
  'CONTROL_PLANE_NOT_INITIALIZED',
  'CONTROL_PLANE_BUSY',
  'NODE_NOT_FOUND',
  'NOT_FOUND',
  'VAULT_UNAVAILABLE',
  'VAULT_DOWNGRADE_REFUSED',
  'STORAGE_WRITE_FAILED',
  'HOST_NOT_RUNNING',
  'REMOTE_ACCESS_PORT_IN_USE',
  'REMOTE_ACCESS_LOCKED',
  /** A second node may join only while the IR's existing nodes have remote access enabled (HA). */
  'REMOTE_ACCESS_REQUIRED',
  /** A peer refused or could not read a credential-sync exchange (unknown node, bad seal, clock skew). */
  'PEER_SYNC_REFUSED',
  /** A peer sealed credential sync the way OpenIR 0.1 did (before HPKE): refused, both must be updated. */
  'PEER_SYNC_OUTDATED',
  /** This node cannot reach one or more Online peers over remote access: it is Limited. */
  'PEERS_UNREACHABLE',
  'CERTIFICATE_NOT_USABLE',
  'HOST_ALREADY_RUNNING',
  'TIMEOUT',
  'BAD_PASSWORD',
  'UNREADABLE',
  /** A PFX whose key derivation asks for more iterations than OpenIR runs (a denial of service). */
  'PFX_ITERATIONS_TOO_HIGH',
  'NO_PRIVATE_KEY',
  'LOCAL_PATH_NOT_ALLOWED',
  'CREDENTIAL_NOT_FOUND',
  'CREDENTIAL_TYPE_MISMATCH',
  'JOB_NOT_FOUND',
  'JOB_NOT_CANCELLABLE',
  'JOB_NOT_ASSIGNED',
  /** A job's staged output passed the control plane's per-job limit (`serve --staging-max-size`). */
  'STAGING_TOO_LARGE',
  /** Too many requests from one client in a short time (e.g. credential encryption on the remote-access port). */
  'RATE_LIMITED',
  'DATA_SOURCE_FAILED',
  /** A data store refused the credential's user or password (e.g. PostgreSQL SQLSTATE 28P01). */
  'DATA_SOURCE_AUTH_FAILED',
  /** A database source's query holds more than one statement (e.g. `SELECT 1; DROP TABLE t`): a source runs one SELECT. */
  'DATA_SOURCE_MULTIPLE_STATEMENTS',
  'DATA_SINK_FAILED',
  /** A PostgreSQL sink's table does not exist (SQLSTATE 42P01). */
  'SINK_TABLE_NOT_FOUND',
  /** A sink refused the data itself (e.g. CSV columns that do not match the table); nothing was loaded. */
  'SINK_DATA_REJECTED',
  /** Azure Blob Storage refused the credential's account key, SAS token or connection string (403 AuthenticationFailed/AuthorizationFailure). */
  'BLOB_AUTH_FAILED',
  /** The SAS token lacks a permission the copy needs (403 AuthorizationPermissionMismatch), e.g. a read-only SAS written to. */
  'BLOB_PERMISSION_DENIED',
  /** The SAS token has expired or is not valid yet. */
  'BLOB_SAS_EXPIRED',
  /** The container or the blob does not exist. */
  'BLOB_NOT_FOUND',
  /** The storage account endpoint could not be reached (refused, unresolved, timed out). */
  'BLOB_UNREACHABLE',
  /** The storage endpoint's TLS certificate is not trusted by this node. */
  'BLOB_TLS_UNTRUSTED',
  /** The SFTP server showed another host key than the credential's pinned fingerprint; nothing was sent to it. */
  'SFTP_HOST_KEY_MISMATCH',
  /** The SFTP server refused the credential's user, password or private key. */
  'SFTP_AUTH_FAILED',
  /** The SFTP server could not be reached (refused, unresolved, timed out). */
  'SFTP_UNREACHABLE',
  /** The file or folder does not exist on the SFTP server. */
  'SFTP_NOT_FOUND',
  /** The SFTP server denied the user access to the file or folder. */
  'SFTP_PERMISSION_DENIED',
  /** The SFTP server failed a write and its disk is full (or the user's quota is used up). */
  'SFTP_DISK_FULL',
  /** Test connection: the data store refused the credential (user, password, key, token, SAS, or the rights it grants). */
  'DATA_STORE_AUTH_FAILED',
  /** Test connection: the data store's host or port could not be reached (refused, unresolved, no route). */
  'DATA_STORE_UNREACHABLE',
  /** Test connection: the data store's TLS certificate (or an SFTP server's host key) is not the one this node trusts. */
  'DATA_STORE_TLS_UNTRUSTED',
  /** Test connection: the data store did not answer in time. */
  'DATA_STORE_TIMEOUT',
  /** Test connection: the folder, container, database or root path the credential names does not exist. */
  'DATA_STORE_NOT_FOUND',
  /** The backup's password is wrong (or its key-derivation header was altered: the two look alike). */
  'BACKUP_WRONG_PASSWORD',
  /** Not an OpenIR backup, truncated, damaged or tampered with. */
  'BACKUP_CORRUPT',
  /** A backup format this version cannot read (made by a newer OpenIR). */
  'BACKUP_UNSUPPORTED_VERSION',
  /** Troubleshoot: this machine's clock differs from the control plane's by more than the report allows. */
  'CLOCK_SKEW',
  /** Troubleshoot: the data directory's disk has too little free space left. */
  'DISK_SPACE_LOW',
  /** Troubleshoot: this node's remote-access listener cannot be reached at the address it advertises. */
  'REMOTE_ACCESS_UNREACHABLE',
  /** The diagnostics bundle's final scan found a known secret in a file: nothing was written or sent. */
  'DIAGNOSTICS_SECRET_FOUND',
  /** A diagnostics bundle larger than the control plane takes (the upload is refused; the local file is kept). */
  'DIAGNOSTICS_BUNDLE_TOO_LARGE',
  /** An output file already exists and the command was not told to replace it. */
  'FILE_EXISTS',
  /** An output file cannot be written there (permission denied, read-only, no such folder). */
  'FILE_NOT_WRITABLE',
  /** The disk (or the user's quota) is full: the output file was not written. */
  'DISK_FULL',
  /** The control plane's version policy no longer accepts this node's version (past its expiry date, or below the minimum). */
  'VERSION_EXPIRED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  fix: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** The `{ error: { code, message, fix } }` an HTTP refusal carries, or null when the body is not one. */
export function errorBodyOf(body: unknown): ErrorBody | null {
  const parsed = ErrorBodySchema.safeParse((body as { error?: unknown } | null | undefined)?.error);
  return parsed.success ? parsed.data : null;
}

/** An error every face can show: a stable code, a user-facing message, how to fix it, and the cause. */
export class OpenIrError extends Error {
  readonly code: ErrorCode;
  readonly fix: string | undefined;

  constructor(code: ErrorCode, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OpenIrError';
    this.code = code;
    this.fix = options.fix;
  }

  toBody(): ErrorBody {
    return this.fix
      ? { code: this.code, message: this.message, fix: this.fix }
      : { code: this.code, message: this.message };
  }

  static fromBody(body: ErrorBody): OpenIrError {
    return new OpenIrError(body.code, body.message, body.fix ? { fix: body.fix } : {});
  }
}

export function isOpenIrError(value: unknown): value is OpenIrError {
  return value instanceof OpenIrError;
}

/** Turns anything thrown into the wire form without leaking stack traces or internals. */
export function toErrorBody(error: unknown): ErrorBody {
  if (isOpenIrError(error)) return error.toBody();
  return { code: 'INTERNAL', message: 'Internal error in the OpenIR host; see the log for details.' };
}

/** HTTP status used by the HTTP bindings (host API and control plane) for each code. */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_INPUT':
    case 'CERTIFICATE_NOT_USABLE':
    case 'AUTH_KEY_EMPTY':
    case 'AUTH_KEY_MALFORMED':
    case 'AUTH_KEY_WRONG_PREFIX':
    case 'AUTH_KEY_BAD_ENDPOINT':
    case 'AUTH_KEY_BAD_PIN':
    case 'BAD_PASSWORD':
    case 'UNREADABLE':
    case 'PFX_ITERATIONS_TOO_HIGH':
    case 'CREDENTIAL_TYPE_MISMATCH':
    case 'BACKUP_WRONG_PASSWORD':
    case 'BACKUP_CORRUPT':
    case 'BACKUP_UNSUPPORTED_VERSION':
      return 400;
    case 'LOCAL_PATH_NOT_ALLOWED':
    case 'FORBIDDEN':
    case 'IR_NOT_SHARED':
    case 'CREDENTIAL_NOT_SHARED':
    case 'PEER_SYNC_REFUSED':
    case 'PEER_KEY_CHANGED':
    case 'NODE_PENDING_APPROVAL':
      return 403;
    case 'PEER_SYNC_OUTDATED':
      return 409;
    case 'BLOB_NOT_FOUND':
    case 'SFTP_NOT_FOUND':
      return 404;
    case 'BLOB_AUTH_FAILED':
    case 'BLOB_PERMISSION_DENIED':
    case 'BLOB_SAS_EXPIRED':
    case 'BLOB_UNREACHABLE':
    case 'BLOB_TLS_UNTRUSTED':
    case 'SFTP_HOST_KEY_MISMATCH':
    case 'SFTP_AUTH_FAILED':
    case 'SFTP_UNREACHABLE':
    case 'SFTP_PERMISSION_DENIED':
    case 'SFTP_DISK_FULL':
    case 'DATA_STORE_AUTH_FAILED':
    case 'DATA_STORE_UNREACHABLE':
    case 'DATA_STORE_TLS_UNTRUSTED':
    case 'DATA_STORE_TIMEOUT':
    case 'DATA_STORE_NOT_FOUND':
      return 502;
    case 'UNAUTHORIZED':
    case 'AUTH_KEY_INVALID':
    case 'AUTH_KEY_REVOKED':
    case 'AUTH_KEY_EXPIRED':
    case 'AUTH_KEY_USED':
    case 'NODE_CREDENTIAL_REJECTED':
      return 401;
    case 'IR_NOT_FOUND':
    case 'FACTORY_NOT_FOUND':
    case 'NODE_NOT_FOUND':
    case 'NOT_FOUND':
    case 'NOT_REGISTERED':
    case 'CREDENTIAL_NOT_FOUND':
    case 'JOB_NOT_FOUND':
      return 404;
    case 'IR_EXISTS':
    case 'IR_NOT_EMPTY':
    case 'FACTORY_EXISTS':
    case 'LINK_LIMIT_REACHED':
    case 'NODE_LIMIT_REACHED':
    case 'NODE_NAME_TAKEN':
    case 'DUPLICATE_NODE':
    case 'ALREADY_REGISTERED':
    case 'REGISTRATION_IN_PROGRESS':
    case 'HOST_ALREADY_RUNNING':
    case 'REMOTE_ACCESS_PORT_IN_USE':
    case 'REMOTE_ACCESS_LOCKED':
    case 'REMOTE_ACCESS_REQUIRED':
    case 'CONTROL_PLANE_BUSY':
    case 'NO_PRIVATE_KEY':
    case 'JOB_NOT_CANCELLABLE':
    case 'JOB_NOT_ASSIGNED':
    case 'SYNC_KEY_FINGERPRINT_MISMATCH':
      return 409;
    case 'CONTROL_PLANE_UNREACHABLE':
    case 'PROXY_UNREACHABLE':
    case 'PROXY_AUTH_FAILED':
    case 'PROXY_AUTH_UNSUPPORTED':
    case 'PROXY_REFUSED':
    case 'CONTROL_PLANE_TLS_PIN_MISMATCH':
    case 'CONTROL_PLANE_TLS_FAILED':
    case 'CONTROL_PLANE_ERROR':
    case 'DATA_SOURCE_FAILED':
    case 'DATA_SOURCE_AUTH_FAILED':
    case 'DATA_SOURCE_MULTIPLE_STATEMENTS':
    case 'DATA_SINK_FAILED':
    case 'SINK_TABLE_NOT_FOUND':
    case 'SINK_DATA_REJECTED':
    case 'PEERS_UNREACHABLE':
    case 'CLOCK_SKEW':
    case 'REMOTE_ACCESS_UNREACHABLE':
      return 502;
    case 'TIMEOUT':
      return 504;
    case 'VAULT_UNAVAILABLE':
    case 'VAULT_DOWNGRADE_REFUSED':
    case 'STORAGE_WRITE_FAILED':
    case 'DISK_SPACE_LOW':
    case 'HOST_NOT_RUNNING':
    case 'SERVICE_STOPPED':
    case 'CONTROL_PLANE_NOT_INITIALIZED':
      return 503;
    case 'STAGING_TOO_LARGE':
      return 413;
    case 'VERSION_EXPIRED':
      // 426 Upgrade Required: what the node must do.
      return 426;

    case 'RATE_LIMITED':
      return 429;
    case 'DIAGNOSTICS_BUNDLE_TOO_LARGE':
      return 413;
    case 'FILE_EXISTS':
      return 409;
    case 'FILE_NOT_WRITABLE':
      return 403;
    case 'DISK_FULL':
      return 507;
    case 'DIAGNOSTICS_SECRET_FOUND':
      return 500;
    case 'INTERNAL':
      return 500;
  }
}
