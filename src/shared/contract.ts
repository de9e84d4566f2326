import { z } from 'zod';
import {
  CertificateInfoSchema,
  CertificateListSchema,
  CreateSelfSignedCertificateInputSchema,
  ExportCertificateInputSchema,
  ExportedCertificateSchema,
  ImportCertificateInputSchema,
  InspectCertificateInputSchema,
  SetCertificateTrustInputSchema,
  StoredCertificateSchema,
  SystemCertificateListSchema,
  ThumbprintOnlyInputSchema,
} from './certificates';
import {
  CredentialInputSchema,
  CredentialListSchema,
  CredentialViewSchema,
  DeleteCredentialInputSchema,
  FolderInputSchema,
  JobSettingsViewSchema,
  SetConcurrentJobsLimitInputSchema,
} from './credentials';
import {
  BackupInfoSchema,
  CreateBackupInputSchema,
  CreateBackupOutputSchema,
  InspectBackupInputSchema,
  RestoreBackupInputSchema,
  RestoreBackupOutputSchema,
  UnregisterInputSchema,
  UnregisterOutputSchema,
} from './backup';
import { CredentialTestReportSchema, TestCredentialInputSchema } from './credentialTest';
import { CreateDiagnosticsBundleInputSchema, CreateDiagnosticsBundleOutputSchema } from './diagnosticsBundle';
import { JobsViewSchema } from './jobs';
import { RunTroubleshootInputSchema, TroubleshootReportSchema } from './troubleshoot';
import { EVENT_NAME_LIST, OPERATION_NAME_LIST } from './contractNames';
import {
  GetLogsInputSchema,
  LogEntrySchema,
  LogLevelViewSchema,
  LogsViewSchema,
  SetLogLevelInputSchema,
} from './logs';
import { ProxyInputSchema, ProxyTestReportSchema, ProxyViewSchema, TestProxyInputSchema } from './proxy';
import { RegisterInputSchema } from './registration';
import { RemoteAccessSettingsSchema, RemoteAccessViewSchema } from './remoteAccess';
import { StatusReportSchema, SystemSampleSchema } from './statusReport';

/**
 * The host's API: the single source of truth for every operation and event.
 * Electron IPC, HTTP + WebSocket and the CLI are bindings generated from
 * `OPERATIONS` and `EVENTS`; adding an operation means adding a row here and
 * its implementation in the core (`HostApi`), nothing else (see README.md).
 * The schemas live in their domain modules; this file only names them.
 */

// Long-standing names of the contract, kept importable from here; new code imports the domain module.
export { LOG_LEVELS, LogEntrySchema, LogLevelSchema, type LogEntry, type LogLevel } from './logs';
export {
  StatusReportSchema,
  SystemSampleSchema,
  VaultBackendSchema,
  type StatusReport,
  type SystemSample,
  type VaultBackend,
} from './statusReport';
export { CertificateListSchema } from './certificates';

/** Operations that take nothing still refuse unknown fields. */
const Empty = z.object({}).strict();

export const OPERATIONS = {
  getStatus: {
    summary: 'Status of this node: state, IR, control plane, jobs, secret store.',
    input: Empty,
    output: StatusReportSchema,
  },
  register: {
    summary: 'Register this node with an integration runtime using its authentication key.',
    input: RegisterInputSchema,
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
  drain: {
    summary:
      'Drain this node: take no new jobs, let the running ones finish, then stop the service (answers at once; the status follows it).',
    input: Empty,
    output: StatusReportSchema,
  },
  getLogs: {
    summary: 'Recent log entries, newest last.',
    input: GetLogsInputSchema,
    output: LogsViewSchema,
  },
  setLogLevel: {
    summary: 'Set the minimum level written to the log.',
    input: SetLogLevelInputSchema,
    output: LogLevelViewSchema,
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
    input: TestProxyInputSchema,
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
    output: SystemCertificateListSchema,
  },
  inspectCertificate: {
    summary:
      'Read a certificate file (PFX or PEM) and check it against the TLS requirements, without storing it.',
    input: InspectCertificateInputSchema,
    output: CertificateInfoSchema,
  },
  importCertificate: {
    summary:
      'Import a certificate (PFX with password, or PEM with or without key) into the store; the key goes to the vault.',
    input: ImportCertificateInputSchema,
    output: StoredCertificateSchema,
  },
  createSelfSignedCertificate: {
    summary: "Generate a self-signed server certificate (default: for this node's FQDN, RSA 2048, 365 days).",
    input: CreateSelfSignedCertificateInputSchema,
    output: StoredCertificateSchema,
  },
  exportCertificate: {
    summary:
      'Export a stored certificate: public PEM (for trust stores) or PFX with its key (password required).',
    input: ExportCertificateInputSchema,
    output: ExportedCertificateSchema,
  },
  removeCertificate: {
    summary: 'Remove a certificate from the store and its key from the vault.',
    input: ThumbprintOnlyInputSchema,
    output: StoredCertificateSchema,
  },
  setCertificateTrust: {
    summary: "Add a stored certificate to this node's own trust list, or take it off.",
    input: SetCertificateTrustInputSchema,
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
    output: CredentialListSchema,
  },
  setCredential: {
    summary:
      'Create or replace a data store credential; its secrets go to the vault (an absent secret keeps the saved one).',
    input: CredentialInputSchema,
    output: CredentialViewSchema,
  },
  deleteCredential: {
    summary: 'Delete a data store credential and its secrets.',
    input: DeleteCredentialInputSchema,
    output: CredentialViewSchema,
  },
  testCredential: {
    summary:
      'Test connection of a data store credential, saved (by name) or unsaved (the form): ordered, timed steps, the first failure coded.',
    input: TestCredentialInputSchema,
    output: CredentialTestReportSchema,
  },
  runTroubleshoot: {
    summary:
      'Troubleshoot: ordered, timed checks from the data directory to the control plane, peers and data stores, the first failure named with its fix, and the ports table.',
    input: RunTroubleshootInputSchema,
    output: TroubleshootReportSchema,
  },
  getJobSettings: {
    summary: 'Local folder path validation (the allow-list) and the concurrent jobs limit.',
    input: Empty,
    output: JobSettingsViewSchema,
  },
  allowFolder: {
    summary: 'Let jobs read and write under this folder (an absolute path; stored as its real path).',
    input: FolderInputSchema,
    output: JobSettingsViewSchema,
  },
  disallowFolder: {
    summary: 'Take a folder off the allow-list.',
    input: FolderInputSchema,
    output: JobSettingsViewSchema,
  },
  setConcurrentJobsLimit: {
    summary:
      'Set the concurrent jobs limit of this node; null goes back to the default from cores and memory.',
    input: SetConcurrentJobsLimitInputSchema,
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
    input: InspectBackupInputSchema,
    output: BackupInfoSchema,
  },
  restoreBackup: {
    summary:
      'Restore a backup (checked and decrypted fully before anything is written); the node comes back as itself.',
    input: RestoreBackupInputSchema,
    output: RestoreBackupOutputSchema,
  },
  unregister: {
    summary:
      'Remove this node from its control plane, clear its registration secrets and go back to Register.',
    input: UnregisterInputSchema,
    output: UnregisterOutputSchema,
  },
  createDiagnosticsBundle: {
    summary:
      'Make a diagnostics bundle (logs, config with secrets redacted, status, versions, jobs, certificates, proxy) as a zip with an ID; optionally send it to the control plane.',
    input: CreateDiagnosticsBundleInputSchema,
    output: CreateDiagnosticsBundleOutputSchema,
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
    payload: CredentialListSchema,
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
