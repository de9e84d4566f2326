import type { ControlPlaneMessage, NodeMessage } from '../shared/controlPlaneApi';
import type { Clock } from './clock';
import { isActiveJobState } from '../shared/jobs';
import { syncKeyChanged } from '../shared/syncKey';
import type { JobOutcome, JobRow } from './jobStore';
import type { Logger } from './log';
import { hostIrId, jobFactories, queueIrIds } from './sharedIrs';
import type { ControlPlaneStore } from './store';

/** What the dispatcher needs from the control channels (the ChannelHub). */
export interface NodeLink {
  /** Nodes of the IR with an open channel that have reported their jobs limit. */
  readyNodes(irId: string): { nodeId: string; nodeName: string }[];
  isConnected(nodeId: string): boolean;
  send(nodeId: string, message: ControlPlaneMessage): boolean;
}

export interface JobDispatcherDeps {
  store: ControlPlaneStore;
  clock: Clock;
  log: Logger;
  link: NodeLink;
  /** A node silent this long is Offline; its jobs go back to the queue then. */
  heartbeatTimeoutMs: number;
}

type JobMessage = Extract<
  NodeMessage,
  { type: 'jobAccepted' | 'jobRefused' | 'jobProgress' | 'jobFinished' }
>;

/** More than any IR could take in one go; bounds the loop if something keeps a job Queued. */
const MAX_ASSIGNMENTS_PER_PASS = 10_000;

/**
 * Pushes queued jobs to Online nodes with free capacity (their reported jobs
 * limit less the jobs the control plane has given them), on submit, on a node
 * becoming ready and on a job finishing; there is no polling loop. A job is
 * given to one node at a time: it leaves Queued in one conditional UPDATE, and
 * goes back only after its node has been Offline for the heartbeat timeout.
 */
export class JobDispatcher {
  private readonly lostTimers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly deps: JobDispatcherDeps) {}

  /** Everything an admin command may have changed: new jobs and cancel requests. */
  wake(): void {
    for (const job of this.deps.store.jobs.cancelRequestedActive()) {
      if (job.nodeId && this.deps.link.isConnected(job.nodeId)) {
        this.deps.link.send(job.nodeId, { type: 'jobCancel', jobId: job.id });
      }
    }
    for (const irId of this.deps.store.jobs.irsWithQueuedJobs()) this.dispatch(irId);
  }

  /** After a restart no channel is open: nodes that do not come back within the timeout lose their jobs. */
  recover(): void {
    for (const nodeId of this.deps.store.jobs.nodesWithActiveJobs()) this.nodeLost(nodeId);
  }

  dispatch(irId: string): void {
    const { store, link, clock } = this.deps;
    // A linked IR's jobs run on its shared IR's nodes, in one queue with that IR's own jobs.
    const hostId = hostIrId(store, irId);
    for (let i = 0; i < MAX_ASSIGNMENTS_PER_PASS; i += 1) {
      const assignment = store.exclusive(() => {
        const job = store.jobs.oldestQueuedIn(queueIrIds(store, hostId));
        if (!job) return null;
        let best: { nodeId: string; nodeName: string; free: number } | null = null;
        for (const candidate of link.readyNodes(hostId)) {
          const node = store.findNode(candidate.nodeId);
          // Jobs only for nodes an admin let in, with the sync key that was approved: a node waiting
          // for approval (or whose key changed) has no credentials from its peers to run them with.
          if (!node || node.approval !== 'approved') continue;
          if (syncKeyChanged(node)) continue;
          // A draining node (Upgrading) finishes what it has and takes nothing new.
          if (node.draining || node.drainRequested) continue;
          const free = node.jobLimit - store.jobs.activeOfNode(node.id).length;
          if (free > 0 && (!best || free > best.free)) best = { ...candidate, free };
        }
        if (!best || !store.jobs.markDispatched(job.id, best.nodeId, best.nodeName, clock.nowMs()))
          return null;
        return { job: store.jobs.find(job.id), nodeId: best.nodeId, nodeName: best.nodeName };
      });
      if (!assignment?.job) return;
      const { job, nodeId, nodeName } = assignment;
      this.deps.log.info(`Job ${job.id} dispatched to node '${nodeName}' (attempt ${job.attempt})`);
      // If the channel closed in between, the node-lost timer re-queues the job.
      link.send(nodeId, {
        type: 'jobAssigned',
        jobId: job.id,
        attempt: job.attempt,
        source: job.source,
        sink: job.sink,
        format: job.format,
        ...(job.mode ? { mode: job.mode } : {}),
        // The node checks the credentials a linked factory's job names against their allowFactories.
        ...jobFactories(store, job.irId),
      });
    }
  }

  nodeConnected(nodeId: string): void {
    const timer = this.lostTimers.get(nodeId);
    if (timer) clearTimeout(timer);
    this.lostTimers.delete(nodeId);
  }

  /**
   * The node's first heartbeat on a new channel: jobs it was given before
   * (`assignedBefore`) that it no longer runs were lost with its process;
   * jobs it runs that are no longer its own must stop.
   */
  nodeReady(
    nodeId: string,
    irId: string,
    activeJobIds: readonly string[],
    assignedBefore: ReadonlySet<string>,
  ): void {
    const { store, link } = this.deps;
    const running = new Set(activeJobIds);
    for (const job of store.jobs.activeOfNode(nodeId)) {
      if (assignedBefore.has(job.id) && !running.has(job.id)) {
        this.requeue(job, 'its node restarted and no longer runs it');
      } else if (job.cancelRequested) {
        link.send(nodeId, { type: 'jobCancel', jobId: job.id });
      }
    }
    for (const jobId of running) {
      const job = store.jobs.find(jobId);
      const mine = job?.nodeId === nodeId && isActiveJobState(job.state);
      if (!mine) {
        this.deps.log.warn(
          `Node ${nodeId} runs job ${jobId}, which is no longer its own; cancelling it there`,
        );
        link.send(nodeId, { type: 'jobCancel', jobId });
      }
    }
    this.dispatch(irId);
  }

  /** Channel closed or silent: after the heartbeat timeout, unless the node is back, its jobs are re-queued. */
  nodeLost(nodeId: string): void {
    const previous = this.lostTimers.get(nodeId);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(() => {
      this.lostTimers.delete(nodeId);
      if (this.deps.link.isConnected(nodeId)) return;
      const irs = new Set<string>();
      for (const job of this.deps.store.jobs.activeOfNode(nodeId)) {
        if (this.requeue(job, `its node went Offline for ${this.deps.heartbeatTimeoutMs} ms`))
          irs.add(job.irId);
      }
      for (const irId of irs) this.dispatch(irId);
    }, this.deps.heartbeatTimeoutMs);
    timer.unref();
    this.lostTimers.set(nodeId, timer);
  }

  onNodeMessage(nodeId: string, irId: string, message: JobMessage): void {
    const { store, clock, log } = this.deps;
    switch (message.type) {
      case 'jobAccepted':
        if (store.jobs.markRunning(message.jobId, nodeId, clock.nowMs())) {
          const job = store.jobs.find(message.jobId);
          // A cancel asked for while the assignment travelled.
          if (job?.cancelRequested) this.deps.link.send(nodeId, { type: 'jobCancel', jobId: job.id });
        }
        return;
      case 'jobRefused': {
        // The heartbeat just before it carried the node's real limit, so this dispatch
        // does not hand the job straight back to the same full node.
        const job = store.jobs.find(message.jobId);
        if (job && job.nodeId === nodeId && job.attempt === message.attempt) {
          this.requeue(job, `its node refused it: ${message.reason}`);
        }
        this.dispatch(irId);
        return;
      }
      case 'jobProgress':
        store.jobs.recordProgress(message.jobId, nodeId, message);
        return;
      case 'jobFinished': {
        const outcome = this.checkedOutcome(message);
        if (store.jobs.finish(message.jobId, nodeId, outcome, clock.nowMs())) {
          log.info(`Job ${message.jobId} ${outcome.state}${outcome.reason ? `: ${outcome.reason}` : ''}`);
        }
        this.dispatch(irId);
        return;
      }
    }
  }

  close(): void {
    for (const timer of this.lostTimers.values()) clearTimeout(timer);
    this.lostTimers.clear();
  }

  /** A staging job succeeds only if the bytes that reached staging are the bytes the node sent. */
  private checkedOutcome(message: Extract<NodeMessage, { type: 'jobFinished' }>): JobOutcome {
    const outcome: JobOutcome = {
      state: message.state,
      reason: message.reason,
      code: message.code,
      bytes: message.bytes,
      rows: message.rows,
      sha256: message.sha256,
    };
    if (message.state !== 'Succeeded') return outcome;
    const job = this.deps.store.jobs.find(message.jobId);
    if (job?.sink.type !== 'staging') return outcome;
    if (job.stagedSha256 === message.sha256 && job.stagedBytes === message.bytes) return outcome;
    return {
      ...outcome,
      state: 'Failed',
      code: 'DATA_SINK_FAILED',
      reason: `The staged upload (${job.stagedBytes ?? 0} bytes, sha256 ${job.stagedSha256 ?? 'none'}) does not match what the node sent (${message.bytes} bytes, sha256 ${message.sha256}).`,
    };
  }

  private requeue(job: JobRow, why: string): boolean {
    if (!job.nodeId) return false;
    const state = this.deps.store.jobs.requeue(job.id, job.nodeId, why, this.deps.clock.nowMs());
    if (state) this.deps.log.warn(`Job ${job.id} ${state === 'Queued' ? 're-queued' : 'cancelled'}: ${why}`);
    return state === 'Queued';
  }
}
