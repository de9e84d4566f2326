import { z } from 'zod';
import { IrNodeInfoSchema, NodeNameSchema } from './controlPlaneApi';
import {
  CertificateInfoSchema,
  StoredCertificateSchema,
  SystemCertificateSchema,
  SystemStoreSchema,
  ThumbprintInputSchema,
} from './certificates';
import {
  CredentialInputSchema,
  CredentialNameSchema,
  CredentialViewSchema,
  JobSettingsViewSchema,
  MAX_CONCURRENT_JOBS_LIMIT,
} from './credentials';
import {
  BackupContentSchema,
  BackupInfoSchema,
  CreateBackupInputSchema,
  CreateBackupOutputSchema,
  RestoreBackupInputSchema,
  RestoreBackupResultSchema,
  UnregisterInputSchema,
  UnregisterResultSchema,
} from './backup';
import { ErrorBodySchema } from './errors';
import { JobsViewSchema } from './jobs';
import { EVENT_NAME_LIST, OPERATION_NAME_LIST } from './contractNames';
import { ProxyInputSchema, ProxyTestReportSchema, ProxyViewSchema } from './proxy';
import { RemoteAccessSettingsSchema, RemoteAccessViewSchema } from './remoteAccess';
import { NodeStatusSchema } from './status';

/**
 * The host's API: the single source of truth for every operation and event.
 * Electron IPC, HTTP + WebSocket and the CLI are bindings generated from
 * `OPERATIONS` and `EVENTS`; adding an operation means adding a row here and
 * its implementation in the core (`HostApi`), nothing else.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LogLevelSchema = z.enum(LOG_LEVELS);
export type LogLevel = z.infer<typeof LogLevelSchema>;

export const VaultBackendSchema = z.object({
  id: z.enum(['secret-service', 'keychain', 'dpapi', 'electron-safe-storage', 'encrypted-file']),
  label: z.string(),
  strength: z.enum(['strong', 'weak']),
  description: z.string(),
});
export type VaultBackend = z.infer<typeof VaultBackendSchema>;

export const StatusReportSchema = z.object({
  status: NodeStatusSchema,
  registered: z.boolean(),
  serviceRunning: z.boolean(),
  version: z.string(),
  ir: z.object({ id: z.string(), name: z.string() }).nullable(),
  node: z.object({ id: z.string(), name: z.string(), fqdn: z.string() }).nullable(),
  controlPlane: z.object({ endpoint: z.string() }).nullable(),
  connectedSince: z.string().nullable(),
  lastError: ErrorBodySchema.nullable(),
  jobs: z.object({ running: z.number().int().nonnegative(), limit: z.number().int().positive() }),
  system: z.object({
    cpuPercent: z.number(),
    memoryUsedBytes: z.number(),
    memoryTotalBytes: z.number(),
  }),
  vault: VaultBackendSchema,
  irNodes: z.array(IrNodeInfoSchema),
  host: z.object({ pid: z.number().int(), dataDir: z.string(), startedAt: z.string() }),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

export const LogEntrySchema = z.object({
  time: z.string(),
  level: LogLevelSchema,
  source: z.string(),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type LogEntry = z.infer<typeof LogEntrySchema>;

const Empty = z.object({}).strict();

/** This node's certificate store as `listCertificates` answers and `certificatesChanged` pushes it. */
export const CertificateListSchema = z.object({
  fqdn: z.string(),
  certificates: z.array(StoredCertificateSchema),
});

/** A certificate file crosses the API as base64; 512 KiB of file is far more than any real PFX. */
const CertificateContentSchema = z
  .string()
  .min(1)
  .max(700_000)
  .regex(/^[A-Za-z0-9+/=\s]*$/, 'Base64 expected.');
/** The password of a PFX or encrypted PEM key; never logged, never stored. */
const CertificatePasswordSchema = z.string().max(1024);

export const OPERATIONS = {
  getStatus: {
    summary: 'Status of this node: state, IR, control plane, jobs, secret store.',
    input: Empty,
    output: StatusReportSchema,
  },
  register: {
    summary: 'Register this node with an integration runtime using its authentication key.',
    input: z
      .object({
        authKey: z.string().max(1024),
        nodeName: NodeNameSchema.optional(),
        /** Remote access from intranet to set up with the registration (Register page). */
        remoteAccess: RemoteAccessSettingsSchema.optional(),
        /** On a registered node: remove it from its control plane first, then register (back up first). */
        replace: z.boolean().optional(),
      })
      .strict(),
    output: StatusReportSchema,
  },
  startService: {
    summary: 'Start the runtime host service.',
    input: Empty,
    output: StatusReportSchema,
  },
  stopService: {
    summary: 'Stop the runtime host service (the node goes Stopped).',
    input: Empty,
    output: StatusReportSchema,
  },
  restartService: {
    summary: 'Restart the runtime host service.',
    input: Empty,
    output: StatusReportSchema,
  },
  getLogs: {
    summary: 'Recent log entries, newest last.',
    input: z
      .object({ limit: z.number().int().min(1).max(5000).optional(), minLevel: LogLevelSchema.optional() })
      .strict(),
    output: z.object({ entries: z.array(LogEntrySchema), level: LogLevelSchema }),
  },
  setLogLevel: {
    summary: 'Set the minimum level written to the log.',
    input: z.object({ level: LogLevelSchema }).strict(),
    output: z.object({ level: LogLevelSchema }),
  },
  getProxy: {
    summary: 'The HTTP proxy setting and the route traffic to the control plane takes now.',
    input: Empty,
    output: ProxyViewSchema,
  },
  setProxy: {
    summary: 'Save the HTTP proxy setting (password to the vault), then restart the host service.',
    input: ProxyInputSchema,
    output: ProxyViewSchema,
  },
  testProxy: {
    summary:
      'Test reaching the control plane step by step (DNS, proxy, tunnel, TLS with the pin), before or after saving.',
    input: z
      .object({
        /** Settings to try; the saved ones when absent. */
        proxy: ProxyInputSchema.optional(),
        /** The control plane to reach; the registered one when absent (e.g. from a pasted key before registration). */
        target: z
          .object({ endpoint: z.string().url(), pin: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict(),
    output: ProxyTestReportSchema,
  },
  listCertificates: {
    summary: "This node's certificate store, each certificate checked against the TLS requirements.",
    input: Empty,
    output: CertificateListSchema,
  },
  listSystemCertificates: {
    summary: 'The system trust stores, read-only, and which stores could be read.',
    input: Empty,
    output: z.object({ stores: z.array(SystemStoreSchema), certificates: z.array(SystemCertificateSchema) }),
  },
  inspectCertificate: {
    summary:
      'Read a certificate file (PFX or PEM) and check it against the TLS requirements, without storing it.',
    input: z
      .object({ content: CertificateContentSchema, password: CertificatePasswordSchema.optional() })
      .strict(),
    output: CertificateInfoSchema,
  },
  importCertificate: {
    summary:
      'Import a certificate (PFX with password, or PEM with or without key) into the store; the key goes to the vault.',
    input: z
      .object({
        content: CertificateContentSchema,
        password: CertificatePasswordSchema.optional(),
        /** Also trust it as a root on this node (a peer's self-signed certificate). */
        trust: z.boolean().optional(),
      })
      .strict(),
    output: StoredCertificateSchema,
  },
  createSelfSignedCertificate: {
    summary: "Generate a self-signed server certificate (default: for this node's FQDN, RSA 2048, 365 days).",
    input: z
      .object({
        dnsNames: z
          .array(
            z
              .string()
              .trim()
              .min(1)
              .max(253)
              .regex(/^[A-Za-z0-9.:-]+$/, 'A DNS name or IP address, without wildcards.'),
          )
          .max(50)
          .optional(),
        days: z.number().int().min(1).max(3650).optional(),
        key: z.enum(['rsa2048', 'p256']).optional(),
      })
      .strict(),
    output: StoredCertificateSchema,
  },
  exportCertificate: {
    summary:
      'Export a stored certificate: public PEM (for trust stores) or PFX with its key (password required).',
    input: z
      .object({
        thumbprint: ThumbprintInputSchema,
        format: z.enum(['pem', 'pfx']),
        password: CertificatePasswordSchema.optional(),
      })
      .strict(),
    output: z.object({
      format: z.enum(['pem', 'pfx']),
      thumbprint: z.string(),
      /** PEM text, or the PFX file as base64. */
      data: z.string(),
    }),
  },
  removeCertificate: {
    summary: 'Remove a certificate from the store and its key from the vault.',
    input: z.object({ thumbprint: ThumbprintInputSchema }).strict(),
    output: StoredCertificateSchema,
  },
  setCertificateTrust: {
    summary: "Add a stored certificate to this node's own trust list, or take it off.",
    input: z.object({ thumbprint: ThumbprintInputSchema, trusted: z.boolean() }).strict(),
    output: StoredCertificateSchema,
  },
  getRemoteAccess: {
    summary:
      'Remote access from intranet: the setting, whether it listens, its URL, and whether it may change.',
    input: Empty,
    output: RemoteAccessViewSchema,
  },
  setRemoteAccess: {
    summary:
      'Disable remote access, or enable it without TLS or with a certificate from the store (checked first).',
    input: RemoteAccessSettingsSchema,
    output: RemoteAccessViewSchema,
  },
  listCredentials: {
    summary: 'The data store credentials on this node: names and non-secret fields, never a secret.',
    input: Empty,
    output: z.object({ credentials: z.array(CredentialViewSchema) }),
  },
  setCredential: {
    summary:
      'Create or replace a data store credential; its secrets go to the vault (an absent secret keeps the saved one).',
    input: CredentialInputSchema,
    output: CredentialViewSchema,
  },
  deleteCredential: {
    summary: 'Delete a data store credential and its secrets.',
    input: z.object({ name: CredentialNameSchema }).strict(),
    output: CredentialViewSchema,
  },
  getJobSettings: {
    summary: 'Local folder path validation (the allow-list) and the concurrent jobs limit.',
    input: Empty,
    output: JobSettingsViewSchema,
  },
  allowFolder: {
    summary: 'Let jobs read and write under this folder (an absolute path; stored as its real path).',
    input: z.object({ path: z.string().min(1).max(4096) }).strict(),
    output: JobSettingsViewSchema,
  },
  disallowFolder: {
    summary: 'Take a folder off the allow-list.',
    input: z.object({ path: z.string().min(1).max(4096) }).strict(),
    output: JobSettingsViewSchema,
  },
  setConcurrentJobsLimit: {
    summary:
      'Set the concurrent jobs limit of this node; null goes back to the default from cores and memory.',
    input: z.object({ limit: z.number().int().min(1).max(MAX_CONCURRENT_JOBS_LIMIT).nullable() }).strict(),
    output: JobSettingsViewSchema,
  },
  getJobs: {
    summary: 'Running/limit jobs and the recent jobs of this node (kept in memory), newest first.',
    input: Empty,
    output: JobsViewSchema,
  },
  createBackup: {
    summary:
      'Back up registration, settings and secrets into a password-encrypted file (returned as base64).',
    input: CreateBackupInputSchema,
    output: CreateBackupOutputSchema,
  },
  inspectBackup: {
    summary: 'Read the clear, authenticated header of a backup file: which node, IR and version, and when.',
    input: z.object({ content: BackupContentSchema }).strict(),
    output: BackupInfoSchema,
  },
  restoreBackup: {
    summary:
      'Restore a backup (checked and decrypted fully before anything is written); the node comes back as itself.',
    input: RestoreBackupInputSchema,
    output: RestoreBackupResultSchema.extend({ status: StatusReportSchema }),
  },
  unregister: {
    summary:
      'Remove this node from its control plane, clear its registration secrets and go back to Register.',
    input: UnregisterInputSchema,
    output: UnregisterResultSchema.extend({ status: StatusReportSchema }),
  },
} as const satisfies Record<string, { summary: string; input: z.ZodType; output: z.ZodType }>;

export type OperationName = keyof typeof OPERATIONS;
export type OperationInput<N extends OperationName> = z.input<(typeof OPERATIONS)[N]['input']>;
export type OperationOutput<N extends OperationName> = z.infer<(typeof OPERATIONS)[N]['output']>;
export const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[];

/** The host's implementation of the contract: one async method per operation. */
export type HostApi = {
  [N in OperationName]: (input: z.infer<(typeof OPERATIONS)[N]['input']>) => Promise<OperationOutput<N>>;
};

export const SystemSampleSchema = StatusReportSchema.shape.system;
export type SystemSample = z.infer<typeof SystemSampleSchema>;

export const EVENTS = {
  statusChanged: { summary: 'The status report changed.', payload: StatusReportSchema },
  systemSampled: {
    summary: 'CPU and memory of this machine, every few seconds.',
    payload: SystemSampleSchema,
  },
  log: { summary: 'A log entry was written.', payload: LogEntrySchema },
  jobsChanged: {
    summary:
      "A job started, progressed (at most twice a second) or finished, or the limit changed: getJobs's answer.",
    payload: JobsViewSchema,
  },
  credentialsChanged: {
    summary:
      "A data store credential was saved or deleted, here or on a peer node (synced): listCredentials's answer.",
    payload: z.object({ credentials: z.array(CredentialViewSchema) }),
  },
  proxyChanged: {
    summary:
      "The HTTP proxy setting or the route it gives changed (saved, restored, registered): getProxy's answer.",
    payload: ProxyViewSchema,
  },
  remoteAccessChanged: {
    summary:
      "Remote access changed: its setting, whether it listens, or whether it may change (the IR's node count): getRemoteAccess's answer.",
    payload: RemoteAccessViewSchema,
  },
  certificatesChanged: {
    summary:
      "A certificate was imported, generated, removed or (un)trusted, or the IR's nodes changed what it must name: listCertificates's answer.",
    payload: CertificateListSchema,
  },
  jobSettingsChanged: {
    summary: "The allow-list or the concurrent jobs limit changed: getJobSettings's answer.",
    payload: JobSettingsViewSchema,
  },
} as const satisfies Record<string, { summary: string; payload: z.ZodType }>;

export type EventName = keyof typeof EVENTS;
export type EventPayload<E extends EventName> = z.infer<(typeof EVENTS)[E]['payload']>;
export const EVENT_NAMES = Object.keys(EVENTS) as EventName[];

/** HTTP binding: every operation is `POST <prefix>/<name>` with the input as JSON body. */
export const HTTP_API_PREFIX = '/api/v1/ops';
export const httpPathFor = (name: OperationName): string => `${HTTP_API_PREFIX}/${name}`;

type SameNames<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const operationListMatches: SameNames<OperationName, (typeof OPERATION_NAME_LIST)[number]> = true;
const eventListMatches: SameNames<EventName, (typeof EVENT_NAME_LIST)[number]> = true;
void operationListMatches;
void eventListMatches;

export function isOperationName(name: string): name is OperationName {
  return Object.prototype.hasOwnProperty.call(OPERATIONS, name);
}
