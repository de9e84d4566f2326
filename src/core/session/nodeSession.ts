import type { SystemSample } from '../../shared/contract';
import type { ControlPlaneMessage, IrNodeInfo, NodeMessage } from '../../shared/controlPlaneApi';
import { OpenIrError } from '../../shared/errors';
import type { VersionPolicy } from '../../shared/versionPolicy';
import type { Registration } from '../config';
import type { Connector } from '../connector';
import { ControlChannel, type ChannelState } from '../controlChannel';
import { NODE_CREDENTIAL } from '../controlPlaneClient';
import type { SourceLogger } from '../logger';
import { hostCounters } from '../metrics';
import { PeerKey } from '../peerSeal';
import { pinnedTlsOptions } from '../pinnedTls';
import type { SessionFacts } from '../statusModel';
import type { SecretVault } from '../vault';

type Heartbeat = Omit<Extract<NodeMessage, { type: 'heartbeat' }>, 'type'>;
type JobMessage = Extract<ControlPlaneMessage, { type: 'jobAssigned' | 'jobCancel' }>;

/** The jobs as the session sees them: it hands them their messages and stops them when the channel stays down. */
export interface SessionJobs {
  readonly running: number;
  readonly limit: number;
  readonly activeJobIds: string[];
  /** Draining: no new jobs; the control plane hears it with each heartbeat. */
  readonly draining?: boolean;
  received(message: JobMessage): void;
  /** Re-sends the final reports the channel could not carry. */
  flush(): void;
  cancelAll(why: string): void;
}

/** What a session needs from the rest of the host; the host builds one set and hands it to every session. */
export interface NodeSessionLinks {
  /** The node credential (read) and the credential-sync key (read, or created on first use). */
  vault: SecretVault;
  redactor: { add(secret: string): void };
  /** Connections with the proxy setting in force now. */
  connector: () => Connector;
  log: SourceLogger;
  channelLog: SourceLogger;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  clock: () => Date;
  jobs: SessionJobs;
  /** What the heartbeat tells the control plane besides the jobs. */
  metrics: { sample(): SystemSample };
  remoteAccess: { readonly url: string | null; readonly certSha256: string | null };
  /** Credential sync: starts when the channel opens, follows the IR's peers. */
  sync: { readonly peersReachable: boolean; startSync(): void; peersChanged(): void };
  /** The OpenIR version this node runs (sent with the channel handshake and each heartbeat). */
  version?: string;
  /** The control plane asked this node to drain (`ir drain`). */
  drain?: () => void;
  /** The error a node hears when its control plane no longer knows it. */
  credentialRejected: (registration: Registration) => OpenIrError;
  /** The failure the status shows (null when the channel opened), and "anything the status shows changed". */
  status: { setProblem(problem: OpenIrError | null): void; changed(): void };
  /** The IR's nodes as known here changed (described, or forgotten when the channel dropped). */
  irNodesChanged: () => void;
}

/**
 * Everything that exists only while the node is registered: the
 * registration, the control channel and what it told us (state, since when,
 * the IR's nodes), the credential-sync key, and the timer that stops jobs
 * when the channel stays down. The host makes a new session whenever the
 * registration or the service changes (register, unregister, load, restore,
 * start, stop) and disposes of the old one whole: nothing here is reset field
 * by field.
 */
export class NodeSession implements SessionFacts {
  private channel: ControlChannel | null = null;
  private channelState: ChannelState = 'idle';
  private since: string | null = null;
  private nodes: IrNodeInfo[] = [];
  private policy: VersionPolicy | null = null;
  /** The data factories the IR is shared with, as the control plane last said (Home: "Shared with"). */
  private shared: string[] = [];
  private key: Promise<PeerKey> | null = null;
  /** The public half of the sync key, once loaded: the status shows its fingerprint. */
  private publicSyncKey: string | null = null;
  /** Armed while the channel is down: past the heartbeat timeout the control plane has re-queued our jobs. */
  private lostTimer: NodeJS.Timeout | null = null;
  private readonly settledWaiters = new Set<() => void>();
  private disposed = false;

  constructor(
    readonly registration: Registration,
    private readonly links: NodeSessionLinks,
  ) {}

  get state(): ChannelState {
    return this.channelState;
  }

  get connectedSince(): string | null {
    return this.since;
  }

  get irNodes(): readonly IrNodeInfo[] {
    return this.nodes;
  }

  get sharedWith(): readonly string[] {
    return this.shared;
  }

  get syncKey(): string | null {
    return this.publicSyncKey;
  }

  /** The control plane's version policy, as last told (kept when the channel drops: it is still the policy). */
  get versionPolicy(): VersionPolicy | null {
    return this.policy;
  }

  /** This node's credential-sync key; created on first use, so upgraded nodes get one too. */
  peerKey(): Promise<PeerKey> {
    this.key ??= PeerKey.load(this.links.vault).catch((error: unknown) => {
      this.key = null;
      throw error;
    });
    return this.key;
  }

  /** Sends on the channel; false when it is not open (the caller decides whether to keep the message). */
  send(message: NodeMessage): boolean {
    return this.channel?.send(message) ?? false;
  }

  /** Heartbeat → acknowledgement on the open channel, in ms (troubleshoot); rejects when it is not open. */
  roundTrip(timeoutMs: number): Promise<number> {
    if (!this.channel || this.channelState !== 'open') {
      return Promise.reject(
        new OpenIrError(
          'CONTROL_PLANE_UNREACHABLE',
          `The control channel is not open (it is ${this.channelState}).`,
          { fix: 'The node reconnects on its own; the checks above say why it cannot.' },
        ),
      );
    }
    return this.channel.roundTrip(timeoutMs);
  }

  /** A heartbeat now rather than at the next tick, when something the control plane decides by changed. */
  heartbeatNow(): void {
    this.channel?.heartbeatNow();
  }

  /** Opens the control channel, once; a missing node credential shows as Offline with its fix. */
  async connect(): Promise<void> {
    if (this.channel || this.disposed) return;
    const registration = this.registration;
    let credential: string | null;
    try {
      credential = await this.links.vault.get(NODE_CREDENTIAL);
    } catch (error) {
      this.unreachable(
        error instanceof OpenIrError
          ? error
          : new OpenIrError('VAULT_UNAVAILABLE', 'The node credential could not be read.'),
      );
      return;
    }
    if (!credential) {
      this.unreachable(
        new OpenIrError('VAULT_UNAVAILABLE', 'The node credential is missing from the secret store.', {
          fix: 'The secret store was reset; restore the node from a backup or register it again in a new data directory.',
        }),
      );
      return;
    }
    this.links.redactor.add(credential);
    let peerKey: PeerKey | null = null;
    try {
      peerKey = await this.peerKey();
      this.publicSyncKey = peerKey.publicKey;
    } catch (error) {
      // Without it this node cannot sync credentials, but it can still run jobs: say so, carry on.
      this.links.log.error(
        'The credential-sync key could not be read or created; credentials will not sync.',
        { cause: String(error) },
      );
    }
    if (this.channel || this.disposed) return;
    const tls = pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin);
    this.channel = new ControlChannel({
      endpoint: registration.endpoint,
      createConnection: this.links.connector().createConnection(registration.endpoint, tls),
      nodeId: registration.nodeId,
      credential,
      ...(this.links.version ? { version: this.links.version } : {}),
      heartbeatIntervalMs: registration.heartbeatIntervalMs,
      heartbeatTimeoutMs: registration.heartbeatTimeoutMs,
      reconnectMinMs: this.links.reconnectMinMs,
      reconnectMaxMs: this.links.reconnectMaxMs,
      log: this.links.channelLog,
      credentialRejected: () => this.links.credentialRejected(registration),
      duplicateNode: () =>
        new OpenIrError(
          'DUPLICATE_NODE',
          `Another machine is connected to the control plane as this node ('${registration.nodeName}' in '${registration.irName}'): two hosts share one node identity, e.g. a cloned VM or a data directory restored twice. This host stays off the control plane and tries again every few minutes.`,
          {
            fix: 'Keep one copy as this node. On the other: stop OpenIR, delete its data directory, start it again and register it with the IR key and a new node name (`openir register --key-stdin --node-name <new name>`). Do not unregister either copy: both are the same node on the control plane.',
          },
        ),
      heartbeat: () => this.heartbeat(peerKey),
      onState: (state, error) => this.onState(state, error),
      onIrSummary: (ir) => {
        if (this.disposed) return;
        this.nodes = ir.nodes;
        this.shared = ir.sharedWith ?? [];
        // A joiner receives every credential; the others learn where a new peer is and its key.
        this.links.sync.peersChanged();
        this.links.irNodesChanged();
        this.links.status.changed();
      },
      onJobMessage: (message) => {
        if (!this.disposed) this.links.jobs.received(message);
      },
      versionExpired: (message) => {
        const latest = this.policy?.latest;
        return new OpenIrError(
          'VERSION_EXPIRED',
          message ??
            `The control plane no longer accepts OpenIR ${this.links.version ?? 'of this version'} (its version policy).`,
          {
            fix: `Update OpenIR on this node${latest ? ` to ${latest}` : ''}, then start it again. The node retries every few minutes in case the administrator changes the version policy (\`openir-control-plane version show\`).`,
          },
        );
      },
      onVersionPolicy: (policy) => {
        if (this.disposed) return;
        if (JSON.stringify(policy) === JSON.stringify(this.policy)) return;
        this.policy = policy;
        this.links.status.changed();
      },
      onDrain: () => {
        if (!this.disposed) this.links.drain?.();
      },
    });
    this.channel.start();
  }

  /** Resolves once the channel is Online or known unreachable, or after `timeoutMs`, whichever comes first. */
  waitForSettled(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.settled()) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.settledWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.settledWaiters.add(done);
    });
  }

  /** Closes the channel and stops every timer; the session is not used again. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.lostTimer) clearTimeout(this.lostTimer);
    this.lostTimer = null;
    for (const done of [...this.settledWaiters]) done();
    const channel = this.channel;
    this.channel = null;
    if (channel) await channel.stop();
  }

  private onState(state: ChannelState, error: OpenIrError | null): void {
    if (this.disposed) return;
    const wasOpen = this.channelState === 'open';
    this.channelState = state;
    if (state === 'open') {
      this.since = this.links.clock().toISOString();
      this.links.status.setProblem(null);
      this.links.sync.startSync();
    } else if (wasOpen || state === 'idle') {
      this.since = null;
      // What the control plane said about the IR is only true while connected to it.
      const hadNodes = this.nodes.length > 0;
      this.nodes = [];
      if (hadNodes) this.links.irNodesChanged();
    }
    if (error) this.links.status.setProblem(error);
    this.watchForJobs(state);
    this.notifySettled();
    this.links.status.changed();
  }

  private unreachable(problem: OpenIrError): void {
    this.links.status.setProblem(problem);
    this.channelState = 'unreachable';
    this.notifySettled();
    this.links.status.changed();
  }

  private heartbeat(peerKey: PeerKey | null): Heartbeat {
    const { jobs, sync, remoteAccess } = this.links;
    return {
      runningJobs: jobs.running,
      jobLimit: jobs.limit,
      ...this.links.metrics.sample(),
      ...hostCounters(),
      peersReachable: sync.peersReachable,
      remoteAccessUrl: remoteAccess.url,
      remoteAccessCertSha256: remoteAccess.certSha256,
      peerKey: peerKey?.publicKey ?? null,
      activeJobIds: jobs.activeJobIds,
      ...(this.links.version ? { version: this.links.version } : {}),
      draining: jobs.draining ?? false,
    };
  }

  /**
   * Once the channel has been down for the heartbeat timeout, the control
   * plane has re-queued this node's jobs; running them on would run them twice.
   */
  private watchForJobs(state: ChannelState): void {
    const jobs = this.links.jobs;
    if (state === 'open') {
      if (this.lostTimer) clearTimeout(this.lostTimer);
      this.lostTimer = null;
      jobs.flush();
      return;
    }
    if (this.lostTimer || jobs.running === 0) return;
    this.lostTimer = setTimeout(() => {
      this.lostTimer = null;
      if (this.channelState !== 'open') {
        jobs.cancelAll(
          'The control channel was down longer than the heartbeat timeout; the control plane re-queues the job.',
        );
      }
    }, this.registration.heartbeatTimeoutMs);
    this.lostTimer.unref();
  }

  private settled(): boolean {
    return this.channelState === 'open' || this.channelState === 'unreachable';
  }

  private notifySettled(): void {
    if (!this.settled()) return;
    for (const done of [...this.settledWaiters]) done();
  }
}
