import https from 'node:https';
import type { ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { z } from 'zod';
import type { IrNodeInfo } from '../shared/controlPlaneApi';
import { OpenIrError } from '../shared/errors';
import { REMOTE_ACCESS_PATHS } from '../shared/remoteAccess';
import {
  ManifestEntrySchema,
  SyncEntrySchema,
  type ManifestEntry,
  type SyncEntry,
} from './jobs/credentialStore';
import { requestJson } from './jsonRequest';
import type { SourceLogger } from './logger';
import { parseSealedMessage, ReplayGuard, type PeerKey, type SealedMessage } from './peerSeal';
import { OPENIR_VERSION } from './version';
import { formatSealHeader, PEER_SEAL_HEADER } from './remoteAccessSealHeader';
import { endpointTarget, socketFailureReason, type EndpointTarget } from './endpoint';
import { syncKeyFingerprint } from './syncKey';
import { syncKeyChanged } from '../shared/syncKey';

/**
 * Each message carries the sender's manifest (versions only) and the entries
 * the receiver lacks as far as the sender knows. In step, nothing with a
 * secret crosses and no vault is read.
 */
const PayloadSchema = z.object({
  manifest: z.array(ManifestEntrySchema).max(10_000),
  entries: z.array(SyncEntrySchema).max(10_000),
});
type Payload = z.infer<typeof PayloadSchema>;
/** A whole IR's credentials fit easily; far more than the listener's default body limit. */
export const PEER_SYNC_MAX_BYTES = 8 * 1024 * 1024;

export interface SyncedCredentials {
  manifest(): Promise<ManifestEntry[]>;
  offer(theirs: readonly ManifestEntry[]): Promise<Payload>;
  merge(entries: readonly SyncEntry[]): Promise<string[]>;
}

export interface PeerSyncOptions {
  credentials: SyncedCredentials;
  /** This node, once registered. */
  self: () => { irId: string; nodeId: string } | null;
  key: () => Promise<PeerKey>;
  /** The IR's nodes as the control plane last described them (this node included). */
  nodes: () => readonly IrNodeInfo[];
  log: SourceLogger;
  /** Anti-entropy round and reachability check; changes are also pushed at once. */
  intervalMs: number;
  timeoutMs?: number;
  /** Called when "can this node reach all its Online peers" changes. */
  onReachability: (reachable: boolean) => void;
  /** Called with the names of credentials a peer changed here. */
  onMerged: (names: string[]) => void;
  clock?: () => number;
}

/**
 * Credential sync between the nodes of an IR, over their remote-access
 * listeners. Each exchange sends all of this node's credentials (and
 * deletions) and gets all of the peer's back; each side keeps the higher
 * version of each. The payload is sealed for the one peer (HPKE, RFC 9180, in
 * auth mode with the keys the control plane lists), so it stays secret without TLS and
 * nothing on the path, the control plane's own traffic included, carries it.
 * Every node re-encrypts what it receives with its own vault.
 *
 * Trust model: membership, peer keys and certificate pins come from the
 * control plane, as in the reference product, whose cloud service decides
 * which nodes form an IR. Beyond it, a node that joins with an auth key waits
 * Pending until an admin approves it (`ir approve`, comparing its sync key's
 * fingerprint): a pending node is never synced with, in either direction.
 * Each approved peer's sync key is pinned at its approval (the control plane
 * sends it as `approvedPeerKey`), and every exchange is sealed to that pinned
 * key; a peer reporting another key is refused, and this node goes Limited
 * naming it, until the admin approves the new key. A control plane that lied
 * about membership or approvals would still be sent the credentials: guard the
 * control plane accordingly. A replayed request is refused: inside the skew
 * window by the replay guard, after it by the authenticated time. Each message
 * has a fresh ephemeral key, but the recipient's key is static, so a stolen
 * sync key opens recorded traffic to it.
 */
export class PeerSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private reachable = true;
  /** Peer id → last failure, so a peer that stays down is logged once, not every round. */
  private readonly failing = new Map<string, string>();
  /** Peers refused because their sync key is not the one approved for them (a subset of `failing`). */
  private readonly keyChanged = new Set<string>();
  private lastPeers = '';
  /** Requests and replies this node opened, so none is accepted twice. */
  private readonly replays = new ReplayGuard();

  constructor(private readonly options: PeerSyncOptions) {}

  get peersReachable(): boolean {
    return this.reachable;
  }

  /** Why this node is Limited, for the status report; null while every Online peer answers. */
  get problem(): OpenIrError | null {
    if (this.reachable || this.failing.size === 0) return null;
    const names = this.peers().filter((p) => this.failing.has(p.nodeId));
    const changed = names.filter((p) => this.keyChanged.has(p.nodeId));
    if (changed.length > 0) {
      return new OpenIrError(
        'PEER_KEY_CHANGED',
        `This node refuses ${changed.map((p) => `'${p.name}': ${this.failing.get(p.nodeId)}`).join('; ')}.`,
        {
          fix: `If the peer's key changed for a known reason (its data directory was lost or restored elsewhere), compare the fingerprint it shows and approve it again: ${changed.map((p) => `openir-control-plane ir approve <ir> ${p.name} --fingerprint ${p.peerKey ? syncKeyFingerprint(p.peerKey) : '<fingerprint>'}`).join('; ')}. Otherwise remove it (ir remove-node): another machine may be using its identity.`,
        },
      );
    }
    const detail = names.map((p) => `'${p.name}' at ${p.remoteAccessUrl}: ${this.failing.get(p.nodeId)}`);
    return new OpenIrError('PEERS_UNREACHABLE', `This node cannot reach ${detail.join('; ')}.`, {
      fix: "Check that the peer's remote-access port is open in its firewall and reachable from this machine (its FQDN resolves here, or it advertises a reachable address), and that no proxy or TLS inspection sits between the nodes.",
    });
  }

  /** Called whenever the control channel opens: the next IR summary triggers a round even if unchanged. */
  start(): void {
    this.lastPeers = '';
    if (this.timer) return;
    this.timer = setInterval(() => void this.syncNow('periodic'), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.lastPeers = '';
    this.failing.clear();
    this.keyChanged.clear();
    await this.running;
    this.setReachable(true);
  }

  /** Syncs when the peers (who, where, which key) differ from the last time this was called. */
  peersChanged(): void {
    const peers = JSON.stringify(
      this.peers().map((p) => [
        p.nodeId,
        p.remoteAccessUrl,
        p.peerKey,
        p.approvedPeerKey,
        p.remoteAccessCertSha256,
      ]),
    );
    if (peers === this.lastPeers) return;
    this.lastPeers = peers;
    void this.syncNow('the integration runtime changed');
  }

  /** One round with every Online peer; coalesces calls made while a round runs into one more round. */
  syncNow(reason: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.round(reason);
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** The listener's side of an exchange: check, merge, answer with everything this node holds. */
  async answer(body: unknown): Promise<SealedMessage> {
    const self = this.options.self();
    const message = parseSealedMessage(body);
    if (!self || !message || message.to !== self.nodeId) {
      throw new OpenIrError('PEER_SYNC_REFUSED', 'This sync request is not addressed to this node.', {
        fix: 'Check that the sender and this node are registered in the same integration runtime.',
      });
    }
    const peer = this.peers().find((p) => p.nodeId === message.from);
    const pinned = peer ? pinnedKey(peer) : null;
    if (!peer || !pinned) {
      throw new OpenIrError(
        'PEER_SYNC_REFUSED',
        `Node ${message.from} is not an approved Online node of this integration runtime as far as this node knows.`,
        {
          fix: 'Wait until both nodes are Online and approved (`openir-control-plane ir approve`); peers learn about each other from the control plane.',
        },
      );
    }
    const changed = keyChangeOf(peer);
    if (changed) throw new OpenIrError('PEER_KEY_CHANGED', `This node refuses your sync request: ${changed}`);
    const key = await this.options.key();
    const payload = PayloadSchema.parse(
      await key.open(
        pinned,
        { irId: self.irId, from: peer.nodeId, to: self.nodeId, purpose: 'sync-request' },
        message,
        this.now(),
        this.replays,
      ),
    );
    await this.apply(payload.entries, peer);
    return key.seal(
      pinned,
      { irId: self.irId, from: self.nodeId, to: peer.nodeId, purpose: 'sync-reply' },
      this.now(),
      await this.options.credentials.offer(payload.manifest),
    );
  }

  private async round(reason: string): Promise<void> {
    const self = this.options.self();
    const peers = this.peers().filter((p) => p.remoteAccessUrl && pinnedKey(p));
    for (const id of [...this.keyChanged])
      if (!peers.some((p) => p.nodeId === id)) this.keyChanged.delete(id);
    if (!self || peers.length === 0) {
      this.setReachable(true);
      return;
    }
    this.options.log.debug(`Syncing credentials with ${peers.length} peer(s): ${reason}.`);
    const results = await Promise.all(
      peers.map((peer) => {
        const changed = keyChangeOf(peer);
        return changed ? this.refuse(peer, changed) : this.exchange(self, peer);
      }),
    );
    this.setReachable(results.every(Boolean));
  }

  /** A peer whose sync key is not the approved one: nothing is sent to it, and it counts as unreachable. */
  private refuse(peer: IrNodeInfo, why: string): boolean {
    if (this.failing.get(peer.nodeId) !== why) {
      this.options.log.warn(`Refusing to sync credentials with peer '${peer.name}': ${why}`, {
        peer: peer.name,
      });
    }
    this.failing.set(peer.nodeId, why);
    this.keyChanged.add(peer.nodeId);
    return false;
  }

  /**
   * One sealed exchange with one peer, its failure thrown rather than counted
   * (the troubleshoot report's "sealed health"). A success is a sync like any
   * other round's: what the peer sends is merged.
   */
  async checkPeer(peer: IrNodeInfo): Promise<void> {
    const self = this.options.self();
    if (!self) throw new OpenIrError('NOT_REGISTERED', 'This node is not registered.');
    const changed = keyChangeOf(peer);
    if (changed) throw new OpenIrError('PEER_KEY_CHANGED', `This node refuses '${peer.name}': ${changed}`);
    if (!peer.remoteAccessUrl || !pinnedKey(peer)) {
      throw new OpenIrError(
        'PEER_SYNC_REFUSED',
        `'${peer.name}' has not reported a remote-access address and sync key to the control plane.`,
        { fix: 'Enable remote access on that node and let it connect to the control plane.' },
      );
    }
    await this.sealedExchange(self, peer);
  }

  private async exchange(self: { irId: string; nodeId: string }, peer: IrNodeInfo): Promise<boolean> {
    this.keyChanged.delete(peer.nodeId);
    try {
      await this.sealedExchange(self, peer);
      if (this.failing.delete(peer.nodeId)) this.options.log.info(`Peer '${peer.name}' is reachable again.`);
      return true;
    } catch (error) {
      const why = error instanceof OpenIrError ? error.message : socketFailureReason(error);
      if (this.failing.get(peer.nodeId) !== why) {
        this.options.log.warn(
          `Cannot sync credentials with peer '${peer.name}' at ${peer.remoteAccessUrl}: ${why}`,
          {
            peer: peer.name,
          },
        );
      }
      this.failing.set(peer.nodeId, why);
      return false;
    }
  }

  /** Our manifest to the peer, sealed; what it sends back merged; then what it lacks, if anything. */
  private async sealedExchange(self: { irId: string; nodeId: string }, peer: IrNodeInfo): Promise<void> {
    const key = await this.options.key();
    const peerKey = pinnedKey(peer) as string;
    const send = async (payload: Payload): Promise<Payload> => {
      const reply = parseSealedMessage(
        await this.post(
          peer,
          await key.seal(
            peerKey,
            { irId: self.irId, from: self.nodeId, to: peer.nodeId, purpose: 'sync-request' },
            this.now(),
            payload,
          ),
        ),
      );
      if (!reply) {
        throw new OpenIrError(
          'PEER_SYNC_REFUSED',
          'The peer answered with something other than a sealed reply.',
        );
      }
      return PayloadSchema.parse(
        await key.open(
          peerKey,
          { irId: self.irId, from: peer.nodeId, to: self.nodeId, purpose: 'sync-reply' },
          reply,
          this.now(),
          this.replays,
        ),
      );
    };
    // First our manifest alone: the peer answers with what we lack and its own manifest...
    const answer = await send({ manifest: await this.options.credentials.manifest(), entries: [] });
    await this.apply(answer.entries, peer);
    // ...then what it lacks, if anything.
    const offer = await this.options.credentials.offer(answer.manifest);
    if (offer.entries.length > 0) await this.apply((await send(offer)).entries, peer);
  }

  private async apply(entries: SyncEntry[], peer: IrNodeInfo): Promise<void> {
    // Nodes in step send none: nothing to read the credentials file for.
    if (entries.length === 0) return;
    const changed = await this.options.credentials.merge(entries);
    if (changed.length === 0) return;
    this.options.log.info(`Credentials synced from peer '${peer.name}': ${changed.join(', ')}.`, {
      peer: peer.name,
    });
    this.options.onMerged(changed);
  }

  private async post(peer: IrNodeInfo, message: SealedMessage): Promise<unknown> {
    const url = new URL(REMOTE_ACCESS_PATHS.peerSync, peer.remoteAccessUrl as string);
    const target = endpointTarget(url.href);
    const timeoutMs = this.options.timeoutMs ?? 5000;
    const secure = url.protocol === 'https:';
    const pinned = peer.remoteAccessCertSha256;
    if (secure && !pinned) {
      throw new OpenIrError(
        'PEER_SYNC_REFUSED',
        'The peer listens with TLS but has not reported its certificate yet.',
      );
    }
    const answer = await requestJson(
      {
        hostname: target.host,
        port: target.port,
        path: url.pathname,
        timeout: timeoutMs,
        // The listener checks this before it reads the body (see remoteAccessSealHeader.ts).
        headers: { [PEER_SEAL_HEADER]: formatSealHeader(message) },
        // The whole exchange, TLS included: one hung peer must not hold up the round (nor the next ones).
        signal: AbortSignal.timeout(2 * timeoutMs),
        ...(secure && pinned ? { createConnection: pinnedConnection(target, pinned, timeoutMs) } : {}),
      } satisfies https.RequestOptions,
      message,
      { secure, maxBytes: PEER_SYNC_MAX_BYTES },
    );
    if (answer.status !== 200) {
      const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
      // Sealing changed between versions: a peer of another version refuses without knowing why.
      const versions =
        peer.version !== OPENIR_VERSION
          ? ` (the peer runs OpenIR ${peer.version}, this node ${OPENIR_VERSION}; update both to the same version)`
          : '';
      throw new OpenIrError(
        error?.code === 'PEER_SYNC_OUTDATED' ? 'PEER_SYNC_OUTDATED' : 'PEER_SYNC_REFUSED',
        `The peer refused the sync (HTTP ${answer.status}): ${error?.message ?? 'no reason given'}${versions}`,
      );
    }
    return answer.body;
  }

  /**
   * Approved Online and Limited peers: an Offline node is the control plane's
   * news, not a network problem of ours; a node waiting for approval gets
   * nothing and is heard from in nothing. None at all while this node itself
   * waits for approval (the control plane lists no peers to it then anyway).
   */
  private peers(): IrNodeInfo[] {
    const self = this.options.self();
    const nodes = this.options.nodes();
    if (nodes.some((n) => n.nodeId === self?.nodeId && n.approval === 'pending')) return [];
    return nodes.filter(
      (n) => n.nodeId !== self?.nodeId && n.status !== 'Offline' && n.approval === 'approved',
    );
  }

  private setReachable(reachable: boolean): void {
    if (reachable === this.reachable) return;
    this.reachable = reachable;
    this.options.onReachability(reachable);
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }
}

/** The key a peer is sealed for: the one approved for it (pinned), or, from a control plane without pins, the one listed. */
function pinnedKey(peer: IrNodeInfo): string | null {
  return peer.approvedPeerKey ?? peer.peerKey;
}

/** Why a peer is refused for its key, or null: it reports another sync key than the one approved for it. */
function keyChangeOf(peer: IrNodeInfo): string | null {
  if (!syncKeyChanged(peer)) return null;
  return `its sync key changed to ${syncKeyFingerprint(peer.peerKey)} without a new approval (approved: ${syncKeyFingerprint(peer.approvedPeerKey)}).`;
}

/**
 * TLS to a peer, trusting exactly the certificate it reported to the control
 * plane (SHA-256 pin): self-signed intranet certificates work without a trust
 * store, and nothing is sent until the pin matches.
 */
function pinnedConnection(target: EndpointTarget, fingerprint256: string, timeoutMs: number) {
  return (_options: ClientRequestArgs, done: (error: Error | null, socket: Duplex) => void): undefined => {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      rejectUnauthorized: false,
      ...(target.servername ? { servername: target.servername } : {}),
    });
    // node:http applies `timeout` only to sockets it makes itself.
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    socket.once('secureConnect', () => {
      const actual = socket.getPeerCertificate().fingerprint256;
      if (actual === fingerprint256) return done(null, socket);
      socket.destroy();
      done(
        new OpenIrError(
          'PEER_SYNC_REFUSED',
          `The peer presented a certificate (${actual}) other than the one it reported to the control plane (${fingerprint256}).`,
          {
            fix: 'Something between the nodes is intercepting TLS, or the peer changed its certificate; check the network path.',
          },
        ),
        socket,
      );
    });
    socket.once('error', (error) => done(error, socket));
    return undefined;
  };
}
