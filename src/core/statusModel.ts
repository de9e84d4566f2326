import os from 'node:os';
import type { StatusReport, SystemSample, VaultBackend } from '../shared/contract';
import type { IrNodeInfo } from '../shared/controlPlaneApi';
import { OpenIrError } from '../shared/errors';
import { deriveNodeStatus } from '../shared/status';
import { versionStanding, type VersionPolicy } from '../shared/versionPolicy';
import type { Registration } from './config';
import type { ChannelState } from './controlChannel';
import { syncKeyFingerprint } from './syncKey';

/** What the status shows of the node session, while there is one. */
export interface SessionFacts {
  readonly registration: Registration;
  readonly state: ChannelState;
  readonly connectedSince: string | null;
  readonly irNodes: readonly IrNodeInfo[];
  /** The data factories the node's IR is shared with; absent or empty: none. */
  readonly sharedWith?: readonly string[];
  /** This node's sync public key (base64), once loaded. */
  readonly syncKey?: string | null;
  /** The control plane's version policy, once told. */
  readonly versionPolicy?: VersionPolicy | null;
}

/**
 * What keeps this node from serving its IR on the control plane's side:
 * waiting for approval, or a sync key other than the approved one (its
 * peers refuse it). Either way the fix is the admin's `ir approve`, with the
 * fingerprint shown here.
 */
function approvalProblemOf(
  self: IrNodeInfo | undefined,
  syncKey: string | null,
  fingerprint: string | null,
  reg: Registration,
): OpenIrError | null {
  if (!self) return null;
  const approve = `openir-control-plane ir approve '${reg.irName}' ${reg.nodeName} --fingerprint ${fingerprint ?? '<fingerprint>'}`;
  if (self.approval === 'pending') {
    return new OpenIrError(
      'NODE_PENDING_APPROVAL',
      `This node is registered in '${reg.irName}' and waits for an administrator to approve it. Until then it gets no jobs and no credentials. Its sync key fingerprint is ${fingerprint ?? 'not known yet'}.`,
      {
        fix: `Give the administrator this node's name and fingerprint; after comparing them, they run: ${approve}`,
      },
    );
  }
  if (syncKey && self.approvedPeerKey && self.approvedPeerKey !== syncKey) {
    return new OpenIrError(
      'PEER_KEY_CHANGED',
      `This node's sync key (${fingerprint ?? '?'}) is not the one approved for it, so its peers refuse it: credentials do not sync and it gets no jobs.`,
      {
        fix: `If the key changed for a known reason (the data directory was restored or its secret store reset), ask the administrator to approve it again: ${approve}`,
      },
    );
  }
  return null;
}

/** Where the status model reads the facts it derives the report from; each service answers for its own. */
export interface StatusSources {
  version: string;
  dataDir: string;
  startedAt: string;
  vault: { readonly backend: VaultBackend };
  serviceRunning: () => boolean;
  registering: () => boolean;
  session: () => SessionFacts | null;
  peers: { readonly peersReachable: boolean; readonly peersProblem: OpenIrError | null };
  jobs: { readonly running: number; readonly limit: number };
  /** Set from `drain` until the service starts again. */
  drain?: () => StatusReport['drain'];
  /** Dates of the version policy are judged by this node's clock. */
  now?: () => number;
  metrics: { sample(): SystemSample };
  /** Pushes `statusChanged`. */
  push: (report: StatusReport) => void;
}

/**
 * The one status report every face shows, derived from the services' facts,
 * and the `statusChanged` feed: services only say "something changed", and
 * the model pushes a report when it differs from the last one pushed (the
 * live CPU and memory sample aside: that goes out as `systemSampled`).
 */
export class StatusModel {
  /** The last failure worth showing (registration, control channel, remote access); cleared by success. */
  private problem: OpenIrError | null = null;
  private lastPushed = '';

  constructor(private readonly sources: StatusSources) {}

  /** Sets (or clears) the failure the report shows; the caller then says `changed()` when it is done changing. */
  setProblem(problem: OpenIrError | null): void {
    this.problem = problem;
  }

  report(sampleSystem: boolean): StatusReport {
    const s = this.sources;
    const session = s.session();
    const reg = session?.registration ?? null;
    const self = reg ? session?.irNodes.find((n) => n.nodeId === reg.nodeId) : undefined;
    const fingerprint = session?.syncKey ? syncKeyFingerprint(session.syncKey) : null;
    const approvalProblem = reg ? approvalProblemOf(self, session?.syncKey ?? null, fingerprint, reg) : null;
    const system = sampleSystem
      ? s.metrics.sample()
      : { cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: os.totalmem() };
    return {
      status: deriveNodeStatus({
        serviceRunning: s.serviceRunning(),
        registered: reg !== null,
        registering: s.registering(),
        channel: session?.state ?? 'idle',
        peersReachable: s.peers.peersReachable,
        pendingApproval: self?.approval === 'pending',
      }),
      registered: reg !== null,
      serviceRunning: s.serviceRunning(),
      version: s.version,
      ir: reg
        ? {
            id: reg.irId,
            name: reg.irName,
            ...(session?.sharedWith?.length ? { sharedWith: [...session.sharedWith] } : {}),
          }
        : null,
      node: reg ? { id: reg.nodeId, name: reg.nodeName, fqdn: reg.fqdn } : null,
      controlPlane: reg ? { endpoint: reg.endpoint } : null,
      connectedSince: session?.connectedSince ?? null,
      lastError: (this.problem ?? approvalProblem ?? s.peers.peersProblem)?.toBody() ?? null,
      syncKeyFingerprint: fingerprint,
      jobs: { running: s.jobs.running, limit: s.jobs.limit },
      system,
      vault: s.vault.backend,
      irNodes: session ? [...session.irNodes] : [],
      versionStanding: session?.versionPolicy
        ? versionStanding(session.versionPolicy, s.version, (s.now ?? Date.now)())
        : null,
      drain: s.drain?.() ?? null,
      host: { pid: process.pid, dataDir: s.dataDir, startedAt: s.startedAt },
    };
  }

  /** What the remote-access listener tells peers who ask how this node is. */
  health(): {
    nodeName: string | null;
    irName: string | null;
    version: string;
    state: StatusReport['status'];
  } {
    const report = this.report(false);
    return {
      nodeName: report.node?.name ?? null,
      irName: report.ir?.name ?? null,
      version: report.version,
      state: report.status,
    };
  }

  /** Something the report is derived from may have changed: push the report if it did. */
  changed(): void {
    const report = this.report(false);
    const key = JSON.stringify({ ...report, system: null });
    if (key === this.lastPushed) return;
    this.lastPushed = key;
    this.sources.push(report);
  }
}
