import { randomUUID } from 'node:crypto';
import { OpenIrError } from '../shared/errors';
import {
  JOB_FORMATS,
  JOB_MODES,
  JobFormatSchema,
  JobModeSchema,
  isTableSinkPath,
  parseLocation,
  type JobSink,
} from '../shared/jobs';
import type { AdminSession, CommandResult } from './admin';
import { table } from './format';
import { jobView, type JobRow, type JobView } from './jobStore';
import { problems } from './problems';
import { assertCanRunJobs } from './sharing';

const CLI = 'openir-control-plane';

export interface SubmitOptions {
  ir: string;
  source: string;
  sink: string;
  format?: string | undefined;
  mode?: string | undefined;
}

/** Queues a copy job; the running server (woken by the caller) pushes it to a node. */
export function submitJob(session: AdminSession, options: SubmitOptions): CommandResult {
  const ir = session.store.findIrByName(options.ir);
  if (!ir) throw problems.irNotFoundByName(options.ir);
  // A linked IR whose share was revoked takes no new job, and says why.
  assertCanRunJobs(session, ir);
  const source = parseLocation(options.source);
  if (!source) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `--source must be <credential>:<path-or-url>, not '${options.source}'.`,
      {
        fix: 'Name a data store credential set on the nodes (`openir credential list`), e.g. --source files:in/data.csv.',
      },
    );
  }
  let sink: JobSink;
  if (options.sink === 'staging') sink = { type: 'staging' };
  else {
    const location = parseLocation(options.sink);
    if (!location) {
      throw new OpenIrError(
        'INVALID_INPUT',
        `--sink must be 'staging' or <credential>:<path>, not '${options.sink}'.`,
        {
          fix: 'E.g. --sink staging, or --sink files:out/data.csv.',
        },
      );
    }
    sink = { type: 'credential', ...location };
  }
  const format = JobFormatSchema.safeParse(options.format ?? 'raw');
  if (!format.success) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `--format must be ${JOB_FORMATS.join(', ')}, not '${options.format}'.`,
    );
  }
  const tableSink = sink.type === 'credential' && isTableSinkPath(sink.path);
  if (tableSink && format.data !== 'csv') {
    throw new OpenIrError(
      'INVALID_INPUT',
      `A table sink loads CSV only (COPY … FROM STDIN (FORMAT csv, HEADER true)), not --format ${format.data}.`,
      { fix: 'Add --format csv (a PostgreSQL source then writes CSV with a header).' },
    );
  }
  let mode: (typeof JOB_MODES)[number] | undefined;
  if (options.mode !== undefined) {
    const parsed = JobModeSchema.safeParse(options.mode);
    if (!parsed.success) {
      throw new OpenIrError(
        'INVALID_INPUT',
        `--mode must be ${JOB_MODES.join(' or ')}, not '${options.mode}'.`,
      );
    }
    if (!tableSink) {
      throw new OpenIrError('INVALID_INPUT', '--mode applies to a table sink only.', {
        fix: 'Give --sink <postgresql credential>:table:<schema.table>, or leave --mode out.',
      });
    }
    mode = parsed.data;
  }
  const id = randomUUID();
  session.store.jobs.insert(
    { id, irId: ir.id, source, sink, format: format.data, ...(tableSink ? { mode: mode ?? 'append' } : {}) },
    session.clock.nowMs(),
  );
  return describe(session, findJob(session, id), 'Queued');
}

/** Jobs as the table `job list` prints. */
export function jobsTable(jobs: readonly JobView[]): string {
  return jobs.length === 0
    ? `No jobs yet. Submit one with: ${CLI} job submit --ir <name> --source <credential>:<path> --sink staging`
    : table(
        ['ID', 'IR', 'STATE', 'NODE', 'BYTES', 'SOURCE', 'SINK', 'CREATED'],
        jobs.map((job) => [
          job.id,
          job.ir,
          job.state,
          job.node?.name ?? '-',
          String(job.progress.bytes),
          `${job.source.credential}:${job.source.path}`,
          sinkText(job),
          job.createdAt,
        ]),
      );
}

export function showJob(session: AdminSession, id: string): CommandResult {
  return describe(session, findJob(session, id));
}

/** Queued: cancelled now. Dispatched or Running: its node is told to stop (the caller wakes the server). */
export function cancelJob(session: AdminSession, id: string): CommandResult {
  const job = findJob(session, id);
  if (job.state === 'Succeeded' || job.state === 'Failed') {
    throw new OpenIrError(
      'JOB_NOT_CANCELLABLE',
      `Job ${job.id} already ${job.state === 'Succeeded' ? 'succeeded' : 'failed'}.`,
      {
        fix: 'Only Queued, Dispatched or Running jobs can be cancelled.',
      },
    );
  }
  const updated = session.store.exclusive(() =>
    session.store.jobs.requestCancel(job.id, session.clock.nowMs()),
  );
  return describe(session, updated ?? job);
}

function findJob(session: AdminSession, id: string): JobRow {
  const job = session.store.jobs.find(id);
  if (!job) {
    throw new OpenIrError('JOB_NOT_FOUND', `There is no job ${id}.`, {
      fix: `List the jobs with \`${CLI} job list\`.`,
    });
  }
  return job;
}

function describe(session: AdminSession, job: JobRow, headline?: string): CommandResult {
  const view = jobView(job, session.store.findIrById(job.irId)?.name ?? '?');
  const rows: [string, string][] = [
    ['Job', view.id],
    ['Integration runtime', view.ir],
    [
      'State',
      `${view.state}${view.cancelRequested && view.state !== 'Cancelled' ? ' (cancel requested)' : ''}`,
    ],
    ['Source', `${view.source.credential}:${view.source.path}`],
    ['Sink', sinkText(view)],
    ['Format', view.format],
    ...(view.mode ? [['Mode', view.mode] as [string, string]] : []),
    ['Node', view.node ? `${view.node.name} (attempt ${view.attempt})` : '-'],
    [
      'Progress',
      `${view.progress.bytes} bytes${view.progress.rows === null ? '' : `, ${view.progress.rows} rows`}${view.progress.rate === null ? '' : `, ${view.progress.rate} B/s`}`,
    ],
  ];
  if (view.note) rows.push(['Note', view.note]);
  if (view.sha256) rows.push(['SHA-256', view.sha256]);
  if (view.reason) rows.push(['Reason', `${view.reason}${reasonCodes(view)}`]);
  rows.push(['Created', view.createdAt]);
  if (view.finishedAt) rows.push(['Finished', view.finishedAt]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  return { json: view, text: headline ? [`${headline}.`, ...lines].join('\n') : lines.join('\n') };
}

function sinkText(job: JobView): string {
  return job.sink.type === 'staging' ? 'staging' : `${job.sink.credential}:${job.sink.path}`;
}

/** " [BLOB_AUTH_FAILED, DATA_STORE_AUTH_FAILED]": the store's own code and the generic one it maps to. */
function reasonCodes(view: JobView): string {
  const codes = [...new Set([view.reasonCode, view.dataStoreCode].filter((c): c is string => c !== null))];
  return codes.length > 0 ? ` [${codes.join(', ')}]` : '';
}
