import { useId } from 'react';
import type { StatusReport } from '../../../shared/contract';
import { RECENT_JOBS_CAP, type JobView } from '../../../shared/jobs';
import { CheckCircleIcon, ErrorCircleIcon, StopCircleIcon, SyncIcon } from '../../components/Icons';
import { LoadFailed } from '../../components/ui';
import { formatClock, formatDateTime, useNow } from '../../format';
import { useApp } from '../../store';
import type { CredentialType } from '../../../shared/credentials';
import {
  STORE_KIND_LABEL,
  formatDuration,
  formatRate,
  jobDurationMs,
  progressText,
  sinkText,
  sourceText,
} from './jobsFormat';

const JOB_STATE_META: Record<
  JobView['state'],
  { tone: 'busy' | 'ok' | 'bad' | 'off'; icon: typeof CheckCircleIcon }
> = {
  Running: { tone: 'busy', icon: SyncIcon },
  Succeeded: { tone: 'ok', icon: CheckCircleIcon },
  Failed: { tone: 'bad', icon: ErrorCircleIcon },
  Cancelled: { tone: 'off', icon: StopCircleIcon },
};

/** Home → Recent jobs: pushed by `jobsChanged`, a running job with live progress. */
export function RecentJobsCard({ report }: { report: StatusReport }) {
  const headingId = useId();
  const { value: jobs, loadError } = useApp((s) => s.jobs);
  const refresh = useApp((s) => s.refreshJobs);
  const recent = jobs?.recent ?? [];
  const anyRunning = recent.some((job) => job.state === 'Running');
  // A local clock for the running jobs' durations; the figures themselves are pushed by the host.
  const now = useNow(anyRunning ? 1000 : 30_000);
  // Each end's kind of store, from this node's credentials (a job names only the credential).
  const credentials = useApp((s) => s.credentials.value?.credentials);
  const kinds = new Map<string, CredentialType>((credentials ?? []).map((c) => [c.name, c.type]));
  const running = jobs?.running ?? report.jobs.running;
  const limit = jobs?.limit ?? report.jobs.limit;
  return (
    <section className="card" aria-labelledby={headingId}>
      <header className="card__header">
        <h3 id={headingId} className="card__title">
          <span>Recent jobs</span>
        </h3>
        <span className="muted small" data-testid="jobs-running">
          {running} running of {limit} (concurrent jobs limit)
        </span>
      </header>
      <div className="table-scroll">
        <table className="table jobs-table" aria-labelledby={headingId}>
          <thead>
            <tr>
              <th scope="col">Source → sink</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {recent.length === 0 ? (
              <tr>
                <td colSpan={5} className="table__empty">
                  {jobs
                    ? 'No jobs have run on this node since the host started. The control plane sends jobs here once this node is Online.'
                    : loadError
                      ? 'The recent jobs could not be loaded.'
                      : 'Loading the recent jobs…'}
                </td>
              </tr>
            ) : (
              recent.map((job) => (
                <JobRow key={`${job.jobId}#${job.attempt}`} job={job} now={now} kinds={kinds} />
              ))
            )}
          </tbody>
        </table>
      </div>
      {loadError ? (
        <LoadFailed
          title="The recent jobs could not be loaded."
          error={loadError}
          onRetry={() => void refresh()}
        />
      ) : null}
      <p className="muted small">
        The last {RECENT_JOBS_CAP} jobs this node ran since its host started, newest first, updated as they
        progress. The control plane keeps the full history (
        <code className="inline-code">openir-control-plane job list</code>).
      </p>
    </section>
  );
}

/** A job end's kind as a tag; none for a credential this node does not know (deleted since). */
function KindTag({ kind }: { kind: CredentialType | undefined }) {
  // The space after the tag keeps "Azure Blob lake:out.csv" apart when read aloud or copied.
  return kind ? (
    <>
      <span className="tag jobs-table__kind">{STORE_KIND_LABEL[kind]}</span>{' '}
    </>
  ) : null;
}

function JobRow({
  job,
  now,
  kinds,
}: {
  job: JobView;
  now: number;
  kinds: ReadonlyMap<string, CredentialType>;
}) {
  const meta = JOB_STATE_META[job.state];
  const IconFor = meta.icon;
  const running = job.state === 'Running';
  const progress = progressText(job);
  const rate = formatRate(job.rate);
  return (
    <tr data-job-id={job.jobId}>
      <th scope="row" className="jobs-table__route">
        {/* One line per end, each led by its kind of store: a long query or path wraps within its own line. */}
        <span className="jobs-table__end">
          <KindTag kind={kinds.get(job.source.credential)} />
          <span className="mono break">{sourceText(job.source)}</span>
        </span>
        <span className="jobs-table__end">
          <span aria-hidden="true" className="jobs-table__arrow">
            {' → '}
          </span>
          <span className="visually-hidden"> to </span>
          {job.sink.type === 'staging' ? null : <KindTag kind={kinds.get(job.sink.credential)} />}
          <span className="mono break">{sinkText(job.sink)}</span>
        </span>
        <span className="jobs-table__id muted small">
          Job <span className="mono">{job.jobId}</span>
          {job.attempt > 1 ? `, attempt ${job.attempt}` : ''} · {job.format}
        </span>
      </th>
      <td className="jobs-table__state">
        <span className={`badge badge--${meta.tone}`}>
          <IconFor size={16} className={running ? 'icon--spin' : undefined} />
          <span>{job.state}</span>
        </span>
        {job.reason ? <span className="jobs-table__reason small">{job.reason}</span> : null}
        {job.note ? (
          <span className="jobs-table__reason jobs-table__note small" data-testid="job-note">
            {job.note}
          </span>
        ) : null}
      </td>
      <td className="jobs-table__progress">
        <span>{progress}</span>
        <span className="muted small"> at {rate}</span>
        {running ? (
          <span
            className="job-progress"
            role="progressbar"
            aria-label={`Progress of job ${job.jobId}`}
            aria-valuetext={`${progress} copied at ${rate}`}
          >
            <span className="job-progress__bar" />
          </span>
        ) : null}
      </td>
      <td>
        <time dateTime={job.startedAt} title={formatDateTime(job.startedAt)}>
          {formatClock(job.startedAt)}
        </time>
      </td>
      <td>{formatDuration(jobDurationMs(job, now))}</td>
    </tr>
  );
}
