import { randomUUID } from 'node:crypto';
import { formatAuthKey, isValidIrName } from '../shared/authKey';
import { parseChannelAuthorization, type IrSummary, type RegisterRequest } from '../shared/controlPlaneApi';
import type { IrStatus } from '../shared/status';
import { syncKeyChanged } from '../shared/syncKey';
import { versionStanding } from '../shared/versionPolicy';
import { isoTime, type Clock } from './clock';
import { problems } from './problems';
import { hashSecret, newSecret, secretMatchesHash } from './secrets';
import {
  DEFAULT_FACTORY_ID,
  KEY_SLOTS,
  type ControlPlaneStore,
  type AuthKeyRow,
  type IrRow,
  type JoinApproval,
  type KeySlot,
  type NodeRemovalRow,
  type NodeRow,
} from './store';
import { sharedWithNames } from './sharedIrs';
import { irSummary } from './summary';
import { syncKeyFingerprint } from './syncKey';

export const DEFAULT_MAX_NODES = 4;
export const MAX_NODES_CEILING = 100;

/** Where auth keys send nodes and how they recognise the server: recorded by `serve`. */
export interface KeyContext {
  endpoint: string;
  pin: string;
}

export interface CreatedIr {
  irId: string;
  name: string;
  maxNodes: number;
  key1: string;
  key2: string;
}

export interface IrListEntry {
  irId: string;
  name: string;
  status: IrStatus;
  nodeCount: number;
  maxNodes: number;
  createdAt: string;
}

export interface KeyListing {
  irId: string;
  name: string;
  keys: {
    slot: KeySlot;
    createdAt: string;
    /** When the key stops registering nodes; null: never. */
    expiresAt: string | null;
    singleUse: boolean;
    /** When a single-use key registered its node; null: not used yet. */
    usedAt: string | null;
  }[];
}

export interface RegeneratedKey {
  name: string;
  slot: KeySlot;
  key: string;
  expiresAt: string | null;
  singleUse: boolean;
}

/** `ir keys --regenerate`'s limits on the new key. */
export interface KeyLimits {
  expiresInMs?: number | null;
  singleUse?: boolean;
}

/** A node an admin approved (or rejected): what `ir approve` and `ir reject` report. */
export interface NodeDecision {
  irId: string;
  name: string;
  nodeId: string;
  nodeName: string;
  /** `SHA256:…` of the sync key now pinned (approve) or of the key the node reported (reject). */
  fingerprint: string | null;
  /** What the node was before: waiting, or approved with another key than the one it reports. */
  was: 'pending' | 'keyChanged' | 'approved';
}

export interface RegisteredNode {
  ir: IrRow;
  nodeId: string;
  nodeName: string;
  nodeCredential: string;
  /** The node of the same name this registration replaced (`replace`), or null. */
  replaced: NodeRow | null;
  approval: 'pending' | 'approved';
}

/** A node removed by the control plane itself: it was Offline longer than its IR allows. */
export interface ExpiredNode {
  irId: string;
  irName: string;
  nodeId: string;
  nodeName: string;
  lastSeenAt: string | null;
  offlineForMs: number;
  expireOfflineAfterMs: number;
}

export interface RegistryDeps {
  store: ControlPlaneStore;
  clock: Clock;
  /** Past this silence a connected node counts as Offline. */
  heartbeatTimeoutMs: number;
  newId?: () => string;
  newSecret?: () => string;
}

/** The IR rules shared by the admin CLI and the HTTP API: IRs, their two keys, and node membership. */
export class IrRegistry {
  private readonly store: ControlPlaneStore;
  private readonly clock: Clock;
  private readonly heartbeatTimeoutMs: number;
  private readonly newId: () => string;
  private readonly newSecret: () => string;

  constructor(deps: RegistryDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.heartbeatTimeoutMs = deps.heartbeatTimeoutMs;
    this.newId = deps.newId ?? randomUUID;
    this.newSecret = deps.newSecret ?? newSecret;
  }

  createIr(
    name: string,
    maxNodes: number,
    context: KeyContext,
    joinApproval: JoinApproval = 'required',
    factoryId: string = DEFAULT_FACTORY_ID,
  ): CreatedIr {
    if (!isValidIrName(name)) throw problems.invalidIrName(name);
    checkMaxNodes(maxNodes);
    const ir: IrRow = {
      id: this.newId(),
      name,
      maxNodes,
      createdAtMs: this.clock.nowMs(),
      expireOfflineAfterMs: null,
      joinApproval,
      factoryId,
    };
    const secrets = { key1: this.newSecret(), key2: this.newSecret() };
    this.store.exclusive(() => {
      if (this.store.findIrByName(name)) throw problems.irExists(name);
      this.store.insertIr(ir);
      for (const slot of KEY_SLOTS) {
        this.store.insertKey({
          irId: ir.id,
          slot,
          secretHash: hashSecret(secrets[slot]),
          createdAtMs: ir.createdAtMs,
        });
      }
    });
    return {
      irId: ir.id,
      name,
      maxNodes,
      key1: this.authKey(ir, context, secrets.key1),
      key2: this.authKey(ir, context, secrets.key2),
    };
  }

  listIrs(): IrListEntry[] {
    return this.store.listIrs().map((ir) => {
      const summary = this.summarize(ir);
      return {
        irId: ir.id,
        name: ir.name,
        status: summary.status,
        nodeCount: summary.nodes.length,
        maxNodes: ir.maxNodes,
        createdAt: isoTime(ir.createdAtMs),
      };
    });
  }

  listKeys(name: string): KeyListing {
    const ir = this.irByName(name);
    const current = this.store.keysOf(ir.id).filter((key) => key.revokedAtMs === null);
    return {
      irId: ir.id,
      name: ir.name,
      keys: current.map((key) => ({
        slot: key.slot,
        createdAt: isoTime(key.createdAtMs),
        expiresAt: key.expiresAtMs === null ? null : isoTime(key.expiresAtMs),
        singleUse: key.singleUse,
        usedAt: key.usedAtMs === null ? null : isoTime(key.usedAtMs),
      })),
    };
  }

  /** Only new registrations are affected: registered nodes authenticate with their own credential. */
  regenerateKey(name: string, slot: KeySlot, context: KeyContext, limits: KeyLimits = {}): RegeneratedKey {
    const ir = this.irByName(name);
    const secret = this.newSecret();
    const nowMs = this.clock.nowMs();
    const expiresAtMs = limits.expiresInMs ? nowMs + limits.expiresInMs : null;
    const singleUse = limits.singleUse ?? false;
    this.store.exclusive(() => {
      this.store.revokeKey(ir.id, slot, nowMs);
      this.store.insertKey({
        irId: ir.id,
        slot,
        secretHash: hashSecret(secret),
        createdAtMs: nowMs,
        expiresAtMs,
        singleUse,
      });
    });
    return {
      name: ir.name,
      slot,
      key: this.authKey(ir, context, secret),
      expiresAt: expiresAtMs === null ? null : isoTime(expiresAtMs),
      singleUse,
    };
  }

  /** `ir update --join-approval`. */
  updateJoinApproval(
    name: string,
    policy: JoinApproval,
  ): { irId: string; name: string; joinApproval: JoinApproval } {
    const ir = this.irByName(name);
    this.store.updateJoinApproval(ir.id, policy);
    return { irId: ir.id, name: ir.name, joinApproval: policy };
  }

  /**
   * Approves a node waiting to join, or one whose sync key changed since its
   * approval, pinning the key it reports now. With `fingerprint`, only if
   * that is the key's fingerprint: the admin compares what the node shows
   * with what the control plane got, so a key swapped on the way is refused.
   */
  approveNode(irName: string, nodeName: string, fingerprint?: string): NodeDecision {
    return this.store.exclusive(() => {
      const ir = this.irByName(irName);
      const node = this.store.findNodeByName(ir.id, nodeName);
      if (!node) throw problems.nodeNotFound(ir.name, nodeName);
      const actual = node.peerKey ? syncKeyFingerprint(node.peerKey) : null;
      if (fingerprint !== undefined && fingerprint !== actual)
        throw problems.fingerprintMismatch(ir.name, node.name, fingerprint, actual);
      const was = approvalState(node);
      this.store.approveNode(node.id, node.peerKey);
      return { irId: ir.id, name: ir.name, nodeId: node.id, nodeName: node.name, fingerprint: actual, was };
    });
  }

  /** Refuses a node waiting to join (or one whose key changed): it is removed, and its credential stops working. */
  rejectNode(irName: string, nodeName: string): NodeDecision {
    return this.store.exclusive(() => {
      const ir = this.irByName(irName);
      const node = this.store.findNodeByName(ir.id, nodeName);
      if (!node) throw problems.nodeNotFound(ir.name, nodeName);
      const was = approvalState(node);
      if (was === 'approved') throw problems.notPending(ir.name, node.name);
      this.store.deleteNode(node.id);
      const fingerprint = node.peerKey ? syncKeyFingerprint(node.peerKey) : null;
      return { irId: ir.id, name: ir.name, nodeId: node.id, nodeName: node.name, fingerprint, was };
    });
  }

  updateMaxNodes(name: string, maxNodes: number): { irId: string; name: string; maxNodes: number } {
    checkMaxNodes(maxNodes);
    const ir = this.irByName(name);
    this.store.updateMaxNodes(ir.id, maxNodes);
    return { irId: ir.id, name: ir.name, maxNodes };
  }

  /** `ir update --expire-offline-after`: null turns expiry off. */
  updateExpireOfflineAfter(
    name: string,
    ms: number | null,
  ): { irId: string; name: string; expireOfflineAfterMs: number | null } {
    const ir = this.irByName(name);
    this.store.updateExpireOfflineAfter(ir.id, ms);
    return { irId: ir.id, name: ir.name, expireOfflineAfterMs: ms };
  }

  /**
   * Removes the nodes Offline longer than their IR allows (every IR with the
   * setting, or only `irId`). Offline counts from the last heartbeat (or the
   * registration, for a node never seen). Each removal is recorded for `ir nodes`.
   */
  expireOffline(irId?: string): ExpiredNode[] {
    return this.store.exclusive(() => {
      const nowMs = this.clock.nowMs();
      const irs = this.store.irsWithExpiry().filter((ir) => irId === undefined || ir.id === irId);
      const expired: ExpiredNode[] = [];
      for (const ir of irs) {
        const limit = ir.expireOfflineAfterMs;
        if (limit === null) continue;
        const summary = this.summarize(ir);
        for (const node of this.store.nodesOf(ir.id)) {
          const status = summary.nodes.find((n) => n.nodeId === node.id)?.status;
          const offlineForMs = nowMs - (node.lastSeenAtMs ?? node.registeredAtMs);
          if (status !== 'Offline' || offlineForMs <= limit) continue;
          this.store.deleteNode(node.id);
          this.store.insertRemoval(removalOf(node, 'expired', nowMs));
          expired.push({
            irId: ir.id,
            irName: ir.name,
            nodeId: node.id,
            nodeName: node.name,
            lastSeenAt: node.lastSeenAtMs === null ? null : isoTime(node.lastSeenAtMs),
            offlineForMs,
            expireOfflineAfterMs: limit,
          });
        }
      }
      return expired;
    });
  }

  /** The latest nodes the control plane removed by itself (expired, replaced), newest first. */
  recentRemovals(irId: string, limit = 5): NodeRemovalRow[] {
    return this.store.recentRemovals(irId, limit);
  }

  irRow(name: string): IrRow {
    return this.irByName(name);
  }

  removeNode(
    irName: string,
    nodeName: string,
  ): { irId: string; name: string; nodeId: string; nodeName: string } {
    const ir = this.irByName(irName);
    const node = this.store.findNodeByName(ir.id, nodeName);
    if (!node) throw problems.nodeNotFound(ir.name, nodeName);
    return this.remove(ir, node);
  }

  /** A node removing itself (it unregisters), from its own authenticated row. */
  removeOwnNode(node: NodeRow): { irId: string; name: string; nodeId: string; nodeName: string } {
    const ir = this.store.findIrById(node.irId);
    if (!ir) throw problems.credentialRejected();
    return this.remove(ir, node);
  }

  private remove(ir: IrRow, node: NodeRow): { irId: string; name: string; nodeId: string; nodeName: string } {
    this.store.deleteNode(node.id);
    return { irId: ir.id, name: ir.name, nodeId: node.id, nodeName: node.name };
  }

  summaryByName(name: string): IrSummary {
    return this.summarize(this.irByName(name));
  }

  summaryById(irId: string): IrSummary | null {
    const ir = this.store.findIrById(irId);
    return ir ? this.summarize(ir) : null;
  }

  /** `POST /keys/check`: the IR and key checks of a registration, with nothing registered. */
  checkKey(irId: string, secret: string): IrRow {
    const found = this.store.findIrById(irId);
    if (!found) throw problems.irNotFoundInKey();
    this.checkSecret(found, secret);
    return found;
  }

  /**
   * Checks in the order a person would fix them: right IR, valid key, room
   * left, free name. With `replace`, a node of the same name (in the key's IR
   * only, and only once the key checked out) is removed in the same
   * transaction, so a refusal further on keeps it.
   */
  register(request: RegisterRequest): RegisteredNode {
    const nodeId = this.newId();
    const nodeCredential = this.newSecret();
    const nodeName = request.nodeName.trim();
    const { ir, replaced, approval } = this.store.exclusive(() => {
      const found = this.store.findIrById(request.irId);
      if (!found) throw problems.irNotFoundInKey();
      const key = this.checkSecret(found, request.secret);
      // Only a holder of a valid key learns what the policy refuses.
      this.checkVersion(request.version);
      const sameName = this.store.findNodeByName(found.id, nodeName);
      if (sameName && request.replace) {
        this.store.deleteNode(sameName.id);
        this.store.insertRemoval(removalOf(sameName, 'replaced', this.clock.nowMs()));
      }
      const existing = this.store.nodesOf(found.id);
      if (existing.length >= found.maxNodes) throw problems.nodeLimitReached(found.name, found.maxNodes);
      if (sameName && !request.replace) throw problems.nodeNameTaken(found.name, nodeName);
      // HA: nodes sync credentials over remote access, so a joiner needs every existing node reachable that way.
      const withoutRemoteAccess = existing
        .filter((node) => node.remoteAccessUrl === null)
        .map((node) => node.name);
      if (withoutRemoteAccess.length > 0)
        throw problems.remoteAccessRequired(found.name, withoutRemoteAccess);
      // The joiner too: once in, it could no longer turn it on (it is locked with two nodes), and the
      // next joiner would be refused because of it.
      if (existing.length > 0 && !request.remoteAccessUrl) throw problems.joinerNeedsRemoteAccess(found.name);
      // The first node holds no one else's secrets, so it needs no approval; later ones would receive
      // every credential, so by default an admin lets them in (`ir approve`).
      const approval: RegisteredNode['approval'] =
        existing.length === 0 || found.joinApproval === 'auto' ? 'approved' : 'pending';
      // Used up by this registration only: a refusal above rolls the transaction back and keeps the key.
      if (key.singleUse) this.store.markKeyUsed(key.id, this.clock.nowMs());
      this.store.insertNode(
        {
          remoteAccessUrl: request.remoteAccessUrl ?? null,
          remoteAccessCertSha256: request.remoteAccessCertSha256 ?? null,
          peerKey: request.peerKey ?? null,
          id: nodeId,
          irId: found.id,
          name: nodeName,
          fqdn: request.fqdn,
          version: request.version,
          platform: request.platform,
          credentialHash: hashSecret(nodeCredential),
          approval,
          approvedPeerKey: approval === 'approved' ? (request.peerKey ?? null) : null,
        },
        this.clock.nowMs(),
      );
      return { ir: found, replaced: sameName && request.replace ? sameName : null, approval };
    });
    return { ir, nodeId, nodeName, nodeCredential, replaced, approval };
  }

  /**
   * The node an `Authorization` header of the node credential scheme names, if
   * the credential is its own (the staging upload, a node unregistering);
   * CREDENTIAL_REJECTED otherwise.
   */
  nodeFromAuthorization(header: string | undefined): NodeRow {
    const presented = parseChannelAuthorization(header);
    const node = presented ? this.authenticateNode(presented.nodeId, presented.credential) : null;
    if (!node) throw problems.credentialRejected();
    return node;
  }

  /** The node, if the credential is its own; null for unknown nodes too, so probing ids reveals nothing. */
  authenticateNode(nodeId: string, credential: string): NodeRow | null {
    const node = this.store.findNode(nodeId);
    if (!node) {
      // Still hash, so unknown ids take as long to refuse as wrong credentials.
      secretMatchesHash(credential, '0'.repeat(64));
      return null;
    }
    return secretMatchesHash(credential, node.credentialHash) ? node : null;
  }

  /** VERSION_EXPIRED when the version policy refuses `version` now (the server clock decides the date). */
  checkVersion(version: string): void {
    const policy = this.store.getVersionPolicy();
    if (!policy) return;
    const standing = versionStanding(policy, version, this.clock.nowMs());
    if (standing.refused) throw problems.versionExpired(standing);
  }

  /** The current key `secret` is, if it may still register a node (not expired, not used up). */
  private checkSecret(ir: IrRow, secret: string): AuthKeyRow {
    const keys = this.store.keysOf(ir.id);
    // Test every key (no early exit) so timing does not tell current from revoked.
    const matches = keys.filter((key) => secretMatchesHash(secret, key.secretHash));
    const current = matches.find((key) => key.revokedAtMs === null);
    if (current) {
      if (current.expiresAtMs !== null && this.clock.nowMs() >= current.expiresAtMs)
        throw problems.authKeyExpired(ir.name, current.slot, current.expiresAtMs);
      if (current.singleUse && current.usedAtMs !== null)
        throw problems.authKeyUsed(ir.name, current.slot, current.usedAtMs);
      return current;
    }
    const revoked = matches.find((key) => key.revokedAtMs !== null);
    if (revoked?.revokedAtMs) throw problems.authKeyRevoked(ir.name, revoked.revokedAtMs);
    throw problems.authKeyInvalid();
  }

  private irByName(name: string): IrRow {
    const ir = this.store.findIrByName(name);
    if (!ir) throw problems.irNotFoundByName(name);
    return ir;
  }

  private summarize(ir: IrRow): IrSummary {
    const summary = irSummary(ir, this.store.nodesOf(ir.id), this.clock.nowMs(), this.heartbeatTimeoutMs);
    const link = this.store.shares.linkOf(ir.id);
    if (link) {
      // A linked IR has no nodes of its own: it is as up as its shared IR while shared, else Offline.
      const shared = this.store.findIrById(link.sharedIrId);
      const granted = shared !== null && this.store.shares.isGranted(shared.id, ir.factoryId);
      const status = granted
        ? irSummary(shared, this.store.nodesOf(shared.id), this.clock.nowMs(), this.heartbeatTimeoutMs).status
        : 'Offline';
      return { ...summary, status };
    }
    // Its nodes' Home shows "Shared with: B, C".
    const sharedWith = sharedWithNames(this.store, ir.id);
    return sharedWith.length > 0 ? { ...summary, sharedWith } : summary;
  }

  private authKey(ir: IrRow, context: KeyContext, secret: string): string {
    return formatAuthKey({
      irId: ir.id,
      irName: ir.name,
      endpoint: context.endpoint,
      pin: context.pin,
      secret,
    });
  }
}

function approvalState(node: NodeRow): NodeDecision['was'] {
  if (node.approval === 'pending') return 'pending';
  return syncKeyChanged(node) ? 'keyChanged' : 'approved';
}

function removalOf(node: NodeRow, reason: NodeRemovalRow['reason'], nowMs: number): NodeRemovalRow {
  return {
    irId: node.irId,
    nodeId: node.id,
    nodeName: node.name,
    reason,
    lastSeenAtMs: node.lastSeenAtMs,
    removedAtMs: nowMs,
  };
}

function checkMaxNodes(maxNodes: number): void {
  if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > MAX_NODES_CEILING) {
    throw problems.invalidMaxNodes(String(maxNodes));
  }
}

export function parseKeySlot(text: string): KeySlot {
  const slot = KEY_SLOTS.find((candidate) => candidate === text);
  if (!slot) throw problems.invalidSlot(text);
  return slot;
}
