import { z } from 'zod';
import { CredentialNameSchema } from './credentials';

/**
 * A copy job as the control plane queues it and a node runs it. The control
 * plane knows credentials only by name; the node resolves them.
 */
export const JOB_STATES = ['Queued', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const;
export const JobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobStateSchema>;
export const FINAL_JOB_STATES = ['Succeeded', 'Failed', 'Cancelled'] as const;
export type FinalJobState = (typeof FINAL_JOB_STATES)[number];
export const ACTIVE_JOB_STATES = ['Dispatched', 'Running'] as const;

/** Given to a node and not finished: Dispatched or Running. */
export function isActiveJobState(state: JobState): boolean {
  return (ACTIVE_JOB_STATES as readonly JobState[]).includes(state);
}

export const JOB_FORMATS = ['raw', 'csv', 'ndjson'] as const;

/** The longest job note (a retry or resume in words) a node sends. */
export const JOB_NOTE_MAX = 500;
export const JobFormatSchema = z.enum(JOB_FORMATS);
export type JobFormat = z.infer<typeof JobFormatSchema>;

/** How a table sink loads: added to the rows there (append), or in their place (truncate, same transaction). */
export const JOB_MODES = ['append', 'truncate'] as const;
export const JobModeSchema = z.enum(JOB_MODES);
export type JobMode = z.infer<typeof JobModeSchema>;

/** A sink path naming a database table (`table:<schema.table>`), which takes CSV only. */
export const TABLE_SINK_PREFIX = 'table:';
export const isTableSinkPath = (path: string): boolean => path.startsWith(TABLE_SINK_PREFIX);

/** A path under a localFolder credential's root, or a path (or URL) under an http credential's base URL. */
const LocationSchema = z.string().min(1).max(4096);

export const JobSourceSchema = z.object({ credential: CredentialNameSchema, path: LocationSchema });
export type JobSource = z.infer<typeof JobSourceSchema>;

export const JobSinkSchema = z.discriminatedUnion('type', [
  /** The control plane's staging area (`PUT /api/v1/jobs/<id>/staging`). */
  z.object({ type: z.literal('staging') }),
  /** A file under a localFolder credential of the node. */
  z.object({ type: z.literal('credential'), credential: CredentialNameSchema, path: LocationSchema }),
]);
export type JobSink = z.infer<typeof JobSinkSchema>;

export const JobIdSchema = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'Not a job id.');

/** `<credential>:<path-or-url>`, split on the first ":" (credential names contain none). */
export function parseLocation(text: string): { credential: string; path: string } | null {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return null;
  const credential = CredentialNameSchema.safeParse(text.slice(0, colon));
  if (!credential.success) return null;
  return { credential: credential.data, path: text.slice(colon + 1) };
}

export function stagingPath(jobId: string): string {
  return `/api/v1/jobs/${encodeURIComponent(jobId)}/staging`;
}

/**
 * The answer to `HEAD` on the staging path: how many bytes of the job
 * attempt's broken upload the control plane kept, where a retry may resume
 * (`PUT …/staging?offset=<n>`, n at most this).
 */
export const STAGED_BYTES_HEADER = 'x-openir-staged-bytes';

/** The states a job has on the node that runs it (it is Queued and Dispatched only on the control plane). */
export const NODE_JOB_STATES = ['Running', 'Succeeded', 'Failed', 'Cancelled'] as const;

/** A job as this node ran it or runs it now: for Home's recent jobs, never a secret. */
export const JobViewSchema = z.object({
  jobId: JobIdSchema,
  attempt: z.number().int().positive(),
  source: JobSourceSchema,
  sink: JobSinkSchema,
  format: JobFormatSchema,
  state: z.enum(NODE_JOB_STATES),
  bytes: z.number().int().nonnegative(),
  /** Rows for csv and ndjson; null for raw bytes. */
  rows: z.number().int().nonnegative().nullable(),
  /** Bytes per second since the job started (its average once finished). */
  rate: z.number().nonnegative(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Why it failed or was cancelled. */
  reason: z.string().nullable(),
  /** The latest retry or resume of its copy, in words (see the jobProgress message); null when none. */
  note: z.string().nullable(),
});
export type JobView = z.infer<typeof JobViewSchema>;

/** How many recent jobs the node keeps in memory for the UI. */
export const RECENT_JOBS_CAP = 20;

/** What `getJobs` answers and `jobsChanged` pushes: running/limit and the recent jobs, newest first. */
export const JobsViewSchema = z.object({
  running: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  /** Every running job, then the newest finished ones, up to RECENT_JOBS_CAP in all when few run. */
  recent: z.array(JobViewSchema),
});
export type JobsView = z.infer<typeof JobsViewSchema>;
