import type { CredentialType } from '../../../shared/credentials';
import type { JobSink, JobSource, JobView } from '../../../shared/jobs';
import { formatBytes } from '../../format';

/** Words and numbers for jobs, shared by Home's recent jobs and the tests. */

export function sourceText(source: JobSource): string {
  return `${source.credential}:${source.path}`;
}

export function sinkText(sink: JobSink): string {
  return sink.type === 'staging' ? 'Control plane staging' : `${sink.credential}:${sink.path}`;
}

/** The kind of store a job end is, short, for the tag before it on Home. */
export const STORE_KIND_LABEL: Record<CredentialType, string> = {
  localFolder: 'Local folder',
  http: 'HTTP(S)',
  postgresql: 'PostgreSQL',
  azureBlob: 'Azure Blob',
  mysql: 'MySQL/MariaDB',
  sftp: 'SFTP',
};

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatCount(value: number): string {
  return new Intl.NumberFormat().format(value);
}

/** "1.5 s", "42 s", "3 min 5 s", "2 h 4 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** How long a job ran, or has run so far. */
export function jobDurationMs(job: JobView, nowMs: number): number {
  const end = job.finishedAt ? Date.parse(job.finishedAt) : nowMs;
  return Math.max(0, end - Date.parse(job.startedAt));
}

/** Bytes, then rows when counted: "12 MB · 1,000 rows". */
export function progressText(job: JobView): string {
  const rows = job.rows === null ? '' : ` · ${formatCount(job.rows)} rows`;
  return `${formatBytes(job.bytes)}${rows}`;
}
