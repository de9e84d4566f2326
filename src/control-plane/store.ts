import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Sqlite from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import type { Clock } from './clock';
import { FactoryStore } from './factoryStore';
import { JobStore } from './jobStore';
import { MetricsStore } from './nodeMetrics';
import { MIGRATIONS, migrate, type Migration } from './migrations';
import type { VersionPolicy } from '../shared/versionPolicy';
import { ShareStore } from './shareStore';

/** The factory that IRs made before factories, and IRs made without naming one, belong to. */
export const DEFAULT_FACTORY_ID = 'default';

export const KEY_SLOTS = ['key1', 'key2'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

export interface IrRow {
  id: string;
  name: string;
  maxNodes: number;
  createdAtMs: number;
  /** Nodes Offline longer than this are removed; null: never (the default). */
  expireOfflineAfterMs: number | null;
  /** `required`: nodes after the first wait for `ir approve`; `auto`: they are approved as they join. */
  joinApproval: JoinApproval;
  /** The data factory (tenant) that owns the IR; IRs from before factories are in `default`. */
  factoryId: string;
}

export const JOIN_APPROVALS = ['required', 'auto'] as const;
export type JoinApproval = (typeof JOIN_APPROVALS)[number];
export type NodeApproval = 'pending' | 'approved';

export type NodeRemovalReason = 'expired' | 'replaced';

/** A node the control plane removed by itself (expired) or on a registration that took its name (replaced). */
export interface NodeRemovalRow {
  irId: string;
  nodeId: string;
  nodeName: string;
  reason: NodeRemovalReason;
  lastSeenAtMs: number | null;
  removedAtMs: number;
}

export interface AuthKeyRow {
  id: number;
  irId: string;
  slot: KeySlot;
  secretHash: string;
  createdAtMs: number;
  revokedAtMs: number | null;
  /** Past this the key registers nothing (`--expires-in`); null: no expiry. */
  expiresAtMs: number | null;
  /** `--single-use`: the first registration with it uses it up. */
  singleUse: boolean;
  usedAtMs: number | null;
}

export interface NodeRow {
  id: string;
  irId: string;
  name: string;
  fqdn: string;
  version: string;
  platform: string;
  credentialHash: string;
  registeredAtMs: number;
  lastSeenAtMs: number | null;
  connected: boolean;
  peersReachable: boolean;
  runningJobs: number;
  jobLimit: number;
  remoteAccessUrl: string | null;
  remoteAccessCertSha256: string | null;
  peerKey: string | null;
  approval: NodeApproval;
  /** The sync key pinned when the node was approved; its peers refuse any other. */
  approvedPeerKey: string | null;
  /** The node reported that it drains (no new jobs; it stops when its jobs finish). */
  draining: boolean;
  /** `ir drain` asked it to, and it has not said it drains yet. */
  drainRequested: boolean;
}

/** What a node says about how peers reach it (registration and every heartbeat). */
export interface PeerIdentity {
  remoteAccessUrl?: string | null | undefined;
  remoteAccessCertSha256?: string | null | undefined;
  peerKey?: string | null | undefined;
}

export interface NewNode extends PeerIdentity {
  id: string;
  irId: string;
  name: string;
  fqdn: string;
  version: string;
  platform: string;
  credentialHash: string;
  approval: NodeApproval;
  approvedPeerKey: string | null;
}

export interface Heartbeat extends PeerIdentity {
  peersReachable: boolean;
  runningJobs: number;
  jobLimit: number;
  /** Absent from nodes of the previous version: the registered version stands. */
  version?: string | undefined;
  draining?: boolean | undefined;
}

/** What the server recorded on its last start, so admin commands can build auth keys and judge staleness. */
export interface ServiceIdentity {
  endpoint: string;
  pin: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
}

interface RawIr {
  id: string;
  name: string;
  max_nodes: number;
  created_at: number;
  expire_offline_after_ms: number | null;
  join_approval: JoinApproval;
  factory_id: string | null;
}
interface RawRemoval {
  ir_id: string;
  node_id: string;
  node_name: string;
  reason: NodeRemovalReason;
  last_seen_at: number | null;
  removed_at: number;
}
interface RawKey {
  id: number;
  ir_id: string;
  slot: KeySlot;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
  expires_at: number | null;
  single_use: number;
  used_at: number | null;
}
interface RawNode {
  id: string;
  ir_id: string;
  name: string;
  fqdn: string;
  version: string;
  platform: string;
  credential_hash: string;
  registered_at: number;
  last_seen_at: number | null;
  connected: number;
  peers_reachable: number;
  running_jobs: number;
  job_limit: number;
  remote_access_url: string | null;
  remote_access_cert_sha256: string | null;
  peer_key: string | null;
  approval: NodeApproval;
  approved_peer_key: string | null;
  draining: number;
  drain_requested: number;
}

const toIr = (r: RawIr): IrRow => ({
  id: r.id,
  name: r.name,
  maxNodes: r.max_nodes,
  createdAtMs: r.created_at,
  expireOfflineAfterMs: r.expire_offline_after_ms,
  joinApproval: r.join_approval,
  factoryId: r.factory_id ?? DEFAULT_FACTORY_ID,
});
const toRemoval = (r: RawRemoval): NodeRemovalRow => ({
  irId: r.ir_id,
  nodeId: r.node_id,
  nodeName: r.node_name,
  reason: r.reason,
  lastSeenAtMs: r.last_seen_at,
  removedAtMs: r.removed_at,
});
const toKey = (r: RawKey): AuthKeyRow => ({
  id: r.id,
  irId: r.ir_id,
  slot: r.slot,
  secretHash: r.secret_hash,
  createdAtMs: r.created_at,
  revokedAtMs: r.revoked_at,
  expiresAtMs: r.expires_at,
  singleUse: r.single_use === 1,
  usedAtMs: r.used_at,
});
const toNode = (r: RawNode): NodeRow => ({
  id: r.id,
  irId: r.ir_id,
  name: r.name,
  fqdn: r.fqdn,
  version: r.version,
  platform: r.platform,
  credentialHash: r.credential_hash,
  registeredAtMs: r.registered_at,
  lastSeenAtMs: r.last_seen_at,
  connected: r.connected === 1,
  peersReachable: r.peers_reachable === 1,
  runningJobs: r.running_jobs,
  jobLimit: r.job_limit,
  remoteAccessUrl: r.remote_access_url,
  remoteAccessCertSha256: r.remote_access_cert_sha256,
  peerKey: r.peer_key,
  approval: r.approval,
  approvedPeerKey: r.approved_peer_key,
  draining: r.draining === 1,
  drainRequested: r.drain_requested === 1,
});

const IDENTITY_KEYS = {
  endpoint: 'public_endpoint',
  pin: 'tls_pin',
  heartbeatIntervalMs: 'heartbeat_interval_ms',
  heartbeatTimeoutMs: 'heartbeat_timeout_ms',
} as const;

/**
 * The control plane's state in one SQLite file. WAL lets admin commands read
 * and write while the server runs; every multi-statement change runs in an
 * IMMEDIATE transaction so two processes cannot interleave check and insert.
 * Rows hold only hashes of secrets, never the secrets.
 */
export class ControlPlaneStore {
  /** The job queue, in the same database and transactions. */
  readonly jobs: JobStore;

  /** Data factories and their API tokens. */
  readonly factories: FactoryStore;

  /** Grants of IRs to other factories and the linked IRs made from them. */
  readonly shares: ShareStore;
  /** Per-node monitoring rows (migration 12). */
  readonly metrics: MetricsStore;

  private constructor(private readonly db: Database) {
    this.jobs = new JobStore(db);
    this.factories = new FactoryStore(db);
    this.shares = new ShareStore(db);
    this.metrics = new MetricsStore(db);
  }

  static open(file: string, clock: Clock, migrations: readonly Migration[] = MIGRATIONS): ControlPlaneStore {
    // Owner-only before SQLite writes a byte (hashed keys, node credentials' hashes, jobs);
    // SQLite gives its -wal and -shm files the database file's mode.
    if (process.platform !== 'win32') {
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
    }
    const db = new Sqlite(file);
    try {
      db.pragma('journal_mode = WAL');
      if (process.platform !== 'win32') {
        for (const extra of [`${file}-wal`, `${file}-shm`]) if (existsSync(extra)) chmodSync(extra, 0o600);
      }
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      migrate(db, migrations, clock.nowMs());
    } catch (error) {
      db.close();
      throw error;
    }
    return new ControlPlaneStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `work` holding the database write lock, so its reads stay true until its writes land. */
  exclusive<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  getServiceIdentity(): ServiceIdentity | null {
    const rows = this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings').all();
    const settings = new Map(rows.map((row) => [row.key, row.value]));
    const endpoint = settings.get(IDENTITY_KEYS.endpoint);
    const pin = settings.get(IDENTITY_KEYS.pin);
    if (!endpoint || !pin) return null;
    return {
      endpoint,
      pin,
      heartbeatIntervalMs: Number(settings.get(IDENTITY_KEYS.heartbeatIntervalMs) ?? 5000),
      heartbeatTimeoutMs: Number(settings.get(IDENTITY_KEYS.heartbeatTimeoutMs) ?? 15000),
    };
  }

  saveServiceIdentity(identity: ServiceIdentity): void {
    const upsert = this.db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.exclusive(() => {
      for (const field of Object.keys(IDENTITY_KEYS) as (keyof ServiceIdentity)[]) {
        upsert.run(IDENTITY_KEYS[field], String(identity[field]));
      }
    });
  }

  insertIr(ir: IrRow): void {
    this.db
      .prepare(
        'INSERT INTO irs (id, name, max_nodes, created_at, expire_offline_after_ms, join_approval, factory_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        ir.id,
        ir.name,
        ir.maxNodes,
        ir.createdAtMs,
        ir.expireOfflineAfterMs,
        ir.joinApproval,
        ir.factoryId,
      );
  }

  /** Deletes an IR with its keys, nodes and jobs (foreign keys cascade). */
  deleteIr(irId: string): void {
    this.db.prepare('DELETE FROM irs WHERE id = ?').run(irId);
  }

  updateJoinApproval(irId: string, policy: JoinApproval): void {
    this.db.prepare('UPDATE irs SET join_approval = ? WHERE id = ?').run(policy, irId);
  }

  /** Approves a node and pins `peerKey` (the key it reports as the admin approves) for its peers. */
  approveNode(nodeId: string, peerKey: string | null): void {
    this.db
      .prepare("UPDATE nodes SET approval = 'approved', approved_peer_key = ? WHERE id = ?")
      .run(peerKey, nodeId);
  }

  markKeyUsed(keyId: number, nowMs: number): void {
    this.db.prepare('UPDATE auth_keys SET used_at = ? WHERE id = ?').run(nowMs, keyId);
  }

  updateExpireOfflineAfter(irId: string, ms: number | null): void {
    this.db.prepare('UPDATE irs SET expire_offline_after_ms = ? WHERE id = ?').run(ms, irId);
  }

  /** The IRs that expire Offline nodes at all: the sweep looks only at these. */
  irsWithExpiry(): IrRow[] {
    return this.db
      .prepare<[], RawIr>('SELECT * FROM irs WHERE expire_offline_after_ms IS NOT NULL ORDER BY name')
      .all()
      .map(toIr);
  }

  insertRemoval(removal: NodeRemovalRow): void {
    this.db
      .prepare(
        `INSERT INTO node_removals (ir_id, node_id, node_name, reason, last_seen_at, removed_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        removal.irId,
        removal.nodeId,
        removal.nodeName,
        removal.reason,
        removal.lastSeenAtMs,
        removal.removedAtMs,
      );
  }

  /** The latest removals of an IR, newest first. */
  recentRemovals(irId: string, limit: number): NodeRemovalRow[] {
    return this.db
      .prepare<[string, number], RawRemoval>(
        'SELECT * FROM node_removals WHERE ir_id = ? ORDER BY removed_at DESC, id DESC LIMIT ?',
      )
      .all(irId, limit)
      .map(toRemoval);
  }

  updateMaxNodes(irId: string, maxNodes: number): void {
    this.db.prepare('UPDATE irs SET max_nodes = ? WHERE id = ?').run(maxNodes, irId);
  }

  findIrById(id: string): IrRow | null {
    const row = this.db.prepare<[string], RawIr>('SELECT * FROM irs WHERE id = ?').get(id);
    return row ? toIr(row) : null;
  }

  /** Names compare case-insensitively: "Prod" and "prod" would be the same IR to a person. */
  findIrByName(name: string): IrRow | null {
    const row = this.db.prepare<[string], RawIr>('SELECT * FROM irs WHERE name = ?').get(name);
    return row ? toIr(row) : null;
  }

  listIrs(): IrRow[] {
    return this.db.prepare<[], RawIr>('SELECT * FROM irs ORDER BY name').all().map(toIr);
  }

  insertKey(
    key: Omit<AuthKeyRow, 'id' | 'revokedAtMs' | 'expiresAtMs' | 'singleUse' | 'usedAtMs'> &
      Partial<Pick<AuthKeyRow, 'expiresAtMs' | 'singleUse'>>,
  ): void {
    this.db
      .prepare(
        'INSERT INTO auth_keys (ir_id, slot, secret_hash, created_at, expires_at, single_use) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        key.irId,
        key.slot,
        key.secretHash,
        key.createdAtMs,
        key.expiresAtMs ?? null,
        key.singleUse ? 1 : 0,
      );
  }

  revokeKey(irId: string, slot: KeySlot, nowMs: number): void {
    this.db
      .prepare('UPDATE auth_keys SET revoked_at = ? WHERE ir_id = ? AND slot = ? AND revoked_at IS NULL')
      .run(nowMs, irId, slot);
  }

  /** Current keys and revoked ones: a revoked match lets us say "regenerated" instead of "invalid". */
  keysOf(irId: string): AuthKeyRow[] {
    return this.db
      .prepare<[string], RawKey>('SELECT * FROM auth_keys WHERE ir_id = ? ORDER BY slot, created_at')
      .all(irId)
      .map(toKey);
  }

  insertNode(node: NewNode, registeredAtMs: number): void {
    this.db
      .prepare(
        `INSERT INTO nodes (id, ir_id, name, fqdn, version, platform, credential_hash, registered_at,
                            remote_access_url, remote_access_cert_sha256, peer_key, approval, approved_peer_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        node.id,
        node.irId,
        node.name,
        node.fqdn,
        node.version,
        node.platform,
        node.credentialHash,
        registeredAtMs,
        node.remoteAccessUrl ?? null,
        node.remoteAccessCertSha256 ?? null,
        node.peerKey ?? null,
        node.approval,
        node.approvedPeerKey,
      );
  }

  deleteNode(nodeId: string): void {
    this.db.prepare('DELETE FROM nodes WHERE id = ?').run(nodeId);
  }

  findNode(nodeId: string): NodeRow | null {
    const row = this.db.prepare<[string], RawNode>('SELECT * FROM nodes WHERE id = ?').get(nodeId);
    return row ? toNode(row) : null;
  }

  findNodeByName(irId: string, name: string): NodeRow | null {
    const row = this.db
      .prepare<[string, string], RawNode>('SELECT * FROM nodes WHERE ir_id = ? AND name = ?')
      .get(irId, name);
    return row ? toNode(row) : null;
  }

  nodesOf(irId: string): NodeRow[] {
    return this.db
      .prepare<[string], RawNode>('SELECT * FROM nodes WHERE ir_id = ? ORDER BY registered_at, name')
      .all(irId)
      .map(toNode);
  }

  markConnected(nodeId: string, nowMs: number): void {
    this.db.prepare('UPDATE nodes SET connected = 1, last_seen_at = ? WHERE id = ?').run(nowMs, nodeId);
  }

  /** `ir drain`: the server tells the node on its channel (now if connected, else when it connects). */
  requestDrain(nodeId: string): void {
    this.db.prepare('UPDATE nodes SET drain_requested = 1 WHERE id = ?').run(nodeId);
  }

  nodesWithDrainRequested(): NodeRow[] {
    return this.db.prepare<[], RawNode>('SELECT * FROM nodes WHERE drain_requested = 1').all().map(toNode);
  }

  getVersionPolicy(): VersionPolicy | null {
    const row = this.db
      .prepare<[], { latest: string; minimum: string | null; updated_at: number }>(
        'SELECT latest, minimum, updated_at FROM version_policy WHERE id = 1',
      )
      .get();
    if (!row) return null;
    const expires = this.db
      .prepare<[], { version: string; expires_on: string }>(
        'SELECT version, expires_on FROM version_expiries ORDER BY version',
      )
      .all()
      .map((r) => ({ version: r.version, on: r.expires_on }));
    return {
      latest: row.latest,
      minimum: row.minimum,
      expires,
      updatedAt: new Date(row.updated_at).toISOString(),
    };
  }

  /**
   * Sets the policy: latest and minimum replace the old ones; each expiry
   * given is added or moved (expiries of other versions stay).
   */
  setVersionPolicy(
    change: { latest: string; minimum: string | null; expires: { version: string; on: string }[] },
    nowMs: number,
  ): void {
    this.exclusive(() => {
      this.db
        .prepare(
          `INSERT INTO version_policy (id, latest, minimum, updated_at) VALUES (1, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET latest = excluded.latest, minimum = excluded.minimum, updated_at = excluded.updated_at`,
        )
        .run(change.latest, change.minimum, nowMs);
      const upsert = this.db.prepare(
        'INSERT INTO version_expiries (version, expires_on) VALUES (?, ?) ON CONFLICT(version) DO UPDATE SET expires_on = excluded.expires_on',
      );
      for (const expiry of change.expires) upsert.run(expiry.version, expiry.on);
    });
  }

  markDisconnected(nodeId: string): void {
    this.db.prepare('UPDATE nodes SET connected = 0 WHERE id = ?').run(nodeId);
  }

  /** A killed server cannot clear its rows; the next start does, since no channel survives a restart. */
  markAllDisconnected(): void {
    this.db.prepare('UPDATE nodes SET connected = 0 WHERE connected = 1').run();
  }

  /** False when the node no longer exists (removed by an admin while connected). */
  recordHeartbeat(nodeId: string, heartbeat: Heartbeat, nowMs: number): boolean {
    const result = this.db
      .prepare(
        `UPDATE nodes SET version = COALESCE(?, version), draining = ?,
                          drain_requested = CASE WHEN ? = 1 THEN 0 ELSE drain_requested END,
                          last_seen_at = ?, peers_reachable = ?, running_jobs = ?, job_limit = ?, remote_access_url = ?,
                          remote_access_cert_sha256 = ?, peer_key = COALESCE(?, peer_key),
                          approved_peer_key = CASE WHEN approval = 'approved' AND approved_peer_key IS NULL
                                                   THEN COALESCE(?, peer_key) ELSE approved_peer_key END
         WHERE id = ?`,
      )
      .run(
        heartbeat.version ?? null,
        heartbeat.draining ? 1 : 0,
        heartbeat.draining ? 1 : 0,
        nowMs,
        heartbeat.peersReachable ? 1 : 0,
        heartbeat.runningJobs,
        heartbeat.jobLimit,
        heartbeat.remoteAccessUrl ?? null,
        heartbeat.remoteAccessCertSha256 ?? null,
        heartbeat.peerKey ?? null,
        // An approved node that had no key yet (it registered before it had one) pins its first.
        heartbeat.peerKey ?? null,
        nodeId,
      );
    return result.changes > 0;
  }
}
