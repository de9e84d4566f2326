import { z } from 'zod';
import { CredentialInputSchema, CredentialNameSchema, CredentialTypeSchema } from './credentials';
import { ERROR_CODES, type ErrorCode } from './errors';

/**
 * "Test connection" of a data store credential: an ordered list of steps,
 * each with its timing and result, like a small troubleshoot report. The
 * operation takes a saved credential's name, or the unsaved form (the same
 * input `setCredential` takes; an absent secret uses the saved one).
 */
export const TestCredentialInputSchema = z.union([
  z.object({ name: CredentialNameSchema }).strict(),
  z.object({ credential: CredentialInputSchema }).strict(),
]);
export type TestCredentialInput = z.infer<typeof TestCredentialInputSchema>;

/** The five codes a failed test carries, whatever the store: what scripts and the UI match on. */
export const DATA_STORE_CODES = [
  'DATA_STORE_AUTH_FAILED',
  'DATA_STORE_UNREACHABLE',
  'DATA_STORE_TLS_UNTRUSTED',
  'DATA_STORE_TIMEOUT',
  'DATA_STORE_NOT_FOUND',
] as const satisfies readonly ErrorCode[];
export type DataStoreCode = (typeof DATA_STORE_CODES)[number];

export const CREDENTIAL_TEST_STEP_RESULTS = ['passed', 'failed', 'skipped'] as const;

export const CredentialTestStepSchema = z.object({
  /** Stable id of the check, e.g. `connect`, `tls`, `select1`. */
  id: z.string(),
  /** What was checked, in the product's words. */
  label: z.string(),
  result: z.enum(CREDENTIAL_TEST_STEP_RESULTS),
  /** Wall time of the step; 0 for a skipped one. */
  ms: z.number().nonnegative(),
  /** What was seen: a server version, a note such as "listing not permitted (expected for a write-only SAS)". */
  detail: z.string().optional(),
  /** A failed step's coded error: one of DATA_STORE_CODES where one fits, and the store's own code. */
  error: z
    .object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      fix: z.string().optional(),
      /** The code the store's own mapping gave (e.g. BLOB_AUTH_FAILED, SQLSTATE 28P01), for support. */
      storeCode: z.string().optional(),
    })
    .optional(),
});
export type CredentialTestStep = z.infer<typeof CredentialTestStepSchema>;

export const CredentialTestReportSchema = z.object({
  name: z.string(),
  type: CredentialTypeSchema,
  /** The unsaved form was tested, not the saved credential. */
  unsaved: z.boolean(),
  ok: z.boolean(),
  startedAt: z.string(),
  ms: z.number().nonnegative(),
  steps: z.array(CredentialTestStepSchema),
  /** The first failed step's error (also on that step). */
  failure: z
    .object({ code: z.enum(ERROR_CODES), message: z.string(), fix: z.string().optional() })
    .optional(),
});
export type CredentialTestReport = z.infer<typeof CredentialTestReportSchema>;

const TLS_CAUSE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|DEPTH_ZERO/;
const UNREACHABLE_CAUSES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNRESET',
]);
/** PostgreSQL SQLSTATEs and MySQL errnos that mean "no such database". */
const NOT_FOUND_CAUSES = new Set(['3D000', '1049', 'ER_BAD_DB_ERROR', 'ENOENT']);
const AUTH_CAUSES = new Set([
  '28P01',
  '28000',
  '1045',
  '1044',
  '1698',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'EACCES',
  'EPERM',
]);

/**
 * The generic code for a store's failure: the store-specific code its job
 * mapping gave (BLOB_AUTH_FAILED, SFTP_UNREACHABLE, DATA_SOURCE_FAILED, …)
 * and, where known, the cause under it (a socket code, a SQLSTATE, a MySQL
 * errno). Null when none of the five fits: the store's own code is kept.
 */
export function dataStoreCodeFor(storeCode: string, cause = ''): DataStoreCode | null {
  if ((DATA_STORE_CODES as readonly string[]).includes(storeCode)) return storeCode as DataStoreCode;
  if (cause === 'ETIMEDOUT' || cause === 'DATA_STORE_TIMEOUT') return 'DATA_STORE_TIMEOUT';
  if (/_TLS_UNTRUSTED$|_HOST_KEY_MISMATCH$/.test(storeCode) || TLS_CAUSE.test(cause))
    return 'DATA_STORE_TLS_UNTRUSTED';
  if (/_AUTH_FAILED$|_PERMISSION_DENIED$|_SAS_EXPIRED$/.test(storeCode) || AUTH_CAUSES.has(cause))
    return 'DATA_STORE_AUTH_FAILED';
  if (/_NOT_FOUND$/.test(storeCode) || NOT_FOUND_CAUSES.has(cause)) return 'DATA_STORE_NOT_FOUND';
  if (/_UNREACHABLE$/.test(storeCode) || UNREACHABLE_CAUSES.has(cause)) return 'DATA_STORE_UNREACHABLE';
  return null;
}

/**
 * The DATA_STORE_* code of a failed job's code, or null: only a data store's
 * own codes map (a missing credential or a refused path is not the store's
 * failure, though CREDENTIAL_NOT_FOUND ends like BLOB_NOT_FOUND).
 */
export function jobDataStoreCode(code: string): DataStoreCode | null {
  return /^(BLOB|SFTP|DATA_SOURCE|DATA_SINK|SINK|DATA_STORE)_/.test(code) ? dataStoreCodeFor(code) : null;
}

/** The fix every generic code carries when the store's own fix says nothing more specific. */
export const DATA_STORE_FIXES: Record<DataStoreCode, string> = {
  DATA_STORE_AUTH_FAILED:
    'Check the user and set the password, key or token again (`openir credential set <name> … --secret-stdin`), and that the account may do what jobs need.',
  DATA_STORE_UNREACHABLE:
    'Check the host and port of the credential, that the server runs, and that this node can reach it (firewall, proxy for HTTPS and Azure Blob).',
  DATA_STORE_TLS_UNTRUSTED:
    "Check the host name; trust the server's CA on this machine (NODE_EXTRA_CA_CERTS), or for SFTP check the host key fingerprint with the server's administrator.",
  DATA_STORE_TIMEOUT:
    'The data store did not answer in time: check that the host and port are right and that no firewall drops the packets.',
  DATA_STORE_NOT_FOUND:
    'Check the folder, container, database or root path named in the credential; create it, or set the credential again with the right one.',
};
