import fs from 'node:fs/promises';
import path from 'node:path';
import type { OperationInput } from '../../shared/contract';
import type { ControlPlaneMessage, NodeMessage } from '../../shared/controlPlaneApi';
import type { JobSettingsView } from '../../shared/credentials';
import { OpenIrError } from '../../shared/errors';
import type { JobsView } from '../../shared/jobs';
import type { JobsConfig, NodeConfig, Registration } from '../config';
import type { Connector } from '../connector';
import { JobHistory } from '../jobHistory';
import type { SourceLogger } from '../logger';
import { defaultConcurrentJobsLimit } from '../metrics';
import { pinnedTlsOptions } from '../pinnedTls';
import { ViewFeed } from '../viewFeed';
import type { CopyRequest, OpenedSink } from './copyEnds';
import { checkCredentialScope } from './credentialScope';
import type { CredentialStore } from './credentialStore';
import { JobRunner } from './jobRunner';
import { LocalPathPolicy } from './pathPolicy';
import type { RetryPolicy } from './retry';
import { openLocalFileSink, openStagingSink } from './sinks';
import { openSource } from './sources';

type JobMessage = Extract<ControlPlaneMessage, { type: 'jobAssigned' | 'jobCancel' }>;

export interface JobServiceLinks {
  config: { update(change: (draft: NodeConfig) => void): Promise<NodeConfig> };
  /** Data store credentials, resolved (secrets included) when a job opens a source or sink. */
  credentials: Pick<CredentialStore, 'resolve'> & Partial<Pick<CredentialStore, 'allowedFactories'>>;
  /** Connections with the proxy setting in force now (HTTPS sources, staging uploads). */
  connector: () => Connector;
  /** Where staged uploads go: the registration in force and its node credential. */
  registration: () => Registration | null;
  nodeCredential: () => Promise<string | null>;
  /** Sends on the control channel; false when it is not open. */
  send: (message: NodeMessage) => boolean;
  /** The control plane assigns by the limit: a heartbeat now tells it a new one. */
  heartbeatNow: () => void;
  /** The status shows the running count and the limit. */
  statusChanged: () => void;
  /** Pushes `jobsChanged`. */
  pushJobs: (view: JobsView) => void;
  /** Pushes `jobSettingsChanged`. */
  pushSettings: (view: JobSettingsView) => void;
  log: SourceLogger;
  jobsLog: SourceLogger;
  /** The limit when none is configured; by default from this machine's cores. */
  defaultLimit?: number;
  retry?: Partial<RetryPolicy>;
  clock?: () => number;
}

/**
 * The jobs this node runs for its control plane: the runner, the recent-jobs
 * history, the local path policy, the jobs settings (allow-list and
 * concurrent limit), and opening each job's source and sink. Pushes
 * `jobsChanged` and `jobSettingsChanged`.
 */
export class JobService {
  private settings: JobsConfig = { allowedFolders: [], concurrentJobsLimit: null };
  private readonly defaultLimit: number;
  private readonly paths: LocalPathPolicy;
  private readonly runner: JobRunner;
  private readonly history: JobHistory;
  private lastJobsPushed = '';
  private drainingNow = false;
  /** Resolved when no job runs any more (a drain waits on it). */
  private readonly idleWaiters = new Set<() => void>();
  private readonly settingsFeed: ViewFeed<JobSettingsView>;

  /** The local path policy jobs use; Test connection checks a folder against the same one. */
  get localPaths(): LocalPathPolicy {
    return this.paths;
  }

  constructor(private readonly links: JobServiceLinks) {
    this.defaultLimit = links.defaultLimit ?? defaultConcurrentJobsLimit();
    this.paths = new LocalPathPolicy(async () => this.settings.allowedFolders);
    this.history = new JobHistory({
      onChange: () => this.publishJobs(),
      ...(links.clock ? { clock: links.clock } : {}),
    });
    this.runner = new JobRunner({
      log: links.jobsLog,
      send: (message) => {
        this.history.sent(message);
        return links.send(message);
      },
      onChange: () => {
        links.statusChanged();
        this.publishJobs();
        this.wakeIdleWaiters();
      },
      // Draining: an assignment that crossed the drain on the wire is refused, and goes back to the queue.
      limit: () => (this.drainingNow ? 0 : this.limit),
      heartbeatNow: () => links.heartbeatNow(),
      ends: {
        openSource: (source, signal) =>
          openSource(
            { credentials: links.credentials, paths: this.paths, connector: links.connector },
            source,
            signal,
          ),
        openSink: (request) => this.openSink(request),
      },
      ...(links.retry ? { retry: links.retry } : {}),
      ...(links.clock ? { clock: links.clock } : {}),
      authorize: (job) =>
        checkCredentialScope(job, async (name) =>
          // Without a way to read the scope, a linked factory's job gets no credential at all.
          links.credentials.allowedFactories ? links.credentials.allowedFactories(name) : [],
        ),
    });
    this.settingsFeed = new ViewFeed(
      () => this.settingsView(),
      links.pushSettings,
      (error) =>
        links.log.warn('The jobs settings could not be read to tell the UI.', { cause: String(error) }),
    );
  }

  /** The jobs settings from the config: at start-up and after a restore. */
  async load(settings: JobsConfig): Promise<void> {
    this.settings = settings;
    this.publishJobs();
    await this.settingsFeed.refresh();
  }

  get running(): number {
    return this.runner.running;
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  /** Takes no new job from now on (refused if one arrives); the running ones go on. */
  startDrain(): void {
    this.drainingNow = true;
  }

  /** The service starts again: jobs are welcome. */
  endDrain(): void {
    this.drainingNow = false;
  }

  /** Resolves once no job runs (at once if none does). */
  whenIdle(): Promise<void> {
    if (this.runner.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  private wakeIdleWaiters(): void {
    if (this.runner.running !== 0) return;
    for (const resolve of [...this.idleWaiters]) resolve();
    this.idleWaiters.clear();
  }

  get activeJobIds(): string[] {
    return this.runner.activeJobIds;
  }

  get limit(): number {
    return this.settings.concurrentJobsLimit ?? this.defaultLimit;
  }

  view(): JobsView {
    return { running: this.runner.running, limit: this.limit, recent: this.history.recent };
  }

  settingsView(): JobSettingsView {
    return {
      allowedFolders: [...this.settings.allowedFolders],
      concurrentJobsLimit: {
        effective: this.limit,
        configured: this.settings.concurrentJobsLimit,
        default: this.defaultLimit,
      },
    };
  }

  /** A job message from the control plane: seen by the history, then run or cancelled. */
  received(message: JobMessage): void {
    this.history.received(message);
    this.runner.handle(message);
  }

  flush(): void {
    this.runner.flush();
  }

  cancelAll(why: string): void {
    this.runner.cancelAll(why);
  }

  /** Stops the pending progress report (shutdown). */
  stop(): void {
    this.history.stop();
  }

  async allowFolder(input: OperationInput<'allowFolder'>): Promise<JobSettingsView> {
    const real = await realFolder(input.path);
    await this.update((jobs) => {
      if (!jobs.allowedFolders.includes(real)) jobs.allowedFolders.push(real);
    });
    this.links.log.info('Folder allowed for jobs.', { folder: real });
    return this.settingsView();
  }

  async disallowFolder(input: OperationInput<'disallowFolder'>): Promise<JobSettingsView> {
    // The folder may be gone by now; match the stored real path or the path as given.
    const real = await realFolder(input.path).catch(() => path.resolve(input.path));
    const before = this.settings.allowedFolders.length;
    await this.update((jobs) => {
      jobs.allowedFolders = jobs.allowedFolders.filter((f) => f !== real && f !== path.resolve(input.path));
    });
    if (this.settings.allowedFolders.length === before) {
      throw new OpenIrError('NOT_FOUND', `${input.path} is not on the allow-list.`, {
        fix: 'See the allowed folders with `openir config show`.',
      });
    }
    this.links.log.info('Folder no longer allowed for jobs.', { folder: real });
    return this.settingsView();
  }

  async setConcurrentJobsLimit(input: OperationInput<'setConcurrentJobsLimit'>): Promise<JobSettingsView> {
    await this.update((jobs) => {
      jobs.concurrentJobsLimit = input.limit;
    });
    this.links.log.info('Concurrent jobs limit set.', { limit: this.limit, configured: input.limit });
    // The control plane assigns by this limit: tell it now, not at the next heartbeat.
    this.links.heartbeatNow();
    this.links.statusChanged();
    this.publishJobs();
    return this.settingsView();
  }

  private async update(change: (jobs: JobsConfig) => void): Promise<void> {
    const saved = await this.links.config.update((draft) => change(draft.jobs));
    this.settings = saved.jobs;
    await this.settingsFeed.refresh();
  }

  /** Pushes jobsChanged when running/limit or a recent job changed. */
  private publishJobs(): void {
    this.history.reported();
    const view = this.view();
    const key = JSON.stringify(view);
    if (key === this.lastJobsPushed) return;
    this.lastJobsPushed = key;
    this.links.pushJobs(view);
  }

  private async openSink(request: CopyRequest): Promise<OpenedSink> {
    if (request.sink.type === 'credential') {
      const credential = await this.links.credentials.resolve(request.sink.credential, [
        'localFolder',
        'azureBlob',
        'postgresql',
        'sftp',
      ]);
      if (credential.type === 'sftp') {
        // Loaded on first use, with ssh2 (direct connection: SFTP servers are on the intranet).
        const { openSftpSink } = await import('./sftp.js');
        return openSftpSink(credential, request.sink.path);
      }
      if (credential.type === 'postgresql') {
        // Loaded on first use, with `pg`, as the PostgreSQL source is.
        const { openPostgresSink } = await import('./postgresSink.js');
        return openPostgresSink(credential, request.sink.path, request.format, request.mode);
      }
      if (credential.type === 'azureBlob') {
        // Loaded on first use: the Azure SDK is several MB resident that an idle node should not carry.
        const { openBlobSink } = await import('./azureBlob.js');
        return openBlobSink(this.links.connector(), credential, request.sink.path, request.jobId);
      }
      if (credential.type !== 'localFolder')
        throw new OpenIrError('CREDENTIAL_TYPE_MISMATCH', 'Unreachable.');
      return openLocalFileSink(this.paths, credential.root, request.sink.path);
    }
    const registration = this.links.registration();
    const nodeCredential = await this.links.nodeCredential();
    if (!registration || !nodeCredential) {
      throw new OpenIrError('NOT_REGISTERED', 'This node is not registered, so it cannot upload to staging.');
    }
    return openStagingSink(
      {
        endpoint: registration.endpoint,
        tls: pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin),
        connector: this.links.connector(),
        nodeId: registration.nodeId,
        credential: nodeCredential,
      },
      request.jobId,
      request.attempt,
    );
  }
}

/** The real path of an existing folder, for the allow-list; jobs are checked against real paths too. */
async function realFolder(folder: string): Promise<string> {
  if (!path.isAbsolute(folder)) {
    throw new OpenIrError('INVALID_INPUT', `${folder} is not an absolute path.`, {
      fix: 'Give the full path of the folder.',
    });
  }
  let real: string;
  try {
    real = await fs.realpath(folder);
  } catch (error) {
    throw new OpenIrError('NOT_FOUND', `There is no folder ${folder} on this node.`, {
      fix: 'Create it first, or check the path.',
      cause: error,
    });
  }
  if (!(await fs.stat(real)).isDirectory()) {
    throw new OpenIrError('INVALID_INPUT', `${folder} is a file, not a folder.`, {
      fix: 'Allow the folder that holds it.',
    });
  }
  return real;
}
