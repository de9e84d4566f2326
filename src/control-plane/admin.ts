import { existsSync } from 'node:fs';
import { OpenIrError } from '../shared/errors';
import type { IrSummary } from '../shared/controlPlaneApi';
import { syncKeyChanged } from '../shared/syncKey';
import { isoTime, systemClock, type Clock } from './clock';
import { formatDuration } from './duration';
import { FactoryRegistry } from './factories';
import { table } from './format';
import { dbPath, ensureDataDir } from './paths';
import { problems } from './problems';
import { IrRegistry, parseKeySlot, type KeyContext, type KeyLimits, type NodeDecision } from './registry';
import { ControlPlaneStore, type JoinApproval } from './store';
import { shownNodes } from './shownNodes';

/** What an admin command produced: the --json document and the text for people. */
export interface CommandResult {
  json: unknown;
  text: string;
}

export interface AdminSession {
  registry: IrRegistry;
  factories: FactoryRegistry;
  store: ControlPlaneStore;
  dataDir: string;
  clock: Clock;
  keyContext: KeyContext;
  close(): void;
}

const CLI = 'openir-control-plane';

/**
 * Admin commands work on the database directly, also while the server runs
 * (WAL). They need a data dir the server has started in at least once: that
 * start records the endpoint and TLS pin every auth key carries.
 */
export function openAdminSession(dataDir: string, clock: Clock = systemClock): AdminSession {
  const file = dbPath(dataDir);
  if (!existsSync(file)) throw problems.notInitialized(dataDir);
  ensureDataDir(dataDir);
  const store = ControlPlaneStore.open(file, clock);
  const identity = store.getServiceIdentity();
  if (!identity) {
    store.close();
    throw problems.notInitialized(dataDir);
  }
  return {
    registry: new IrRegistry({ store, clock, heartbeatTimeoutMs: identity.heartbeatTimeoutMs }),
    factories: new FactoryRegistry(store.factories, clock, (work) => store.exclusive(work)),
    store,
    dataDir,
    clock,
    keyContext: { endpoint: identity.endpoint, pin: identity.pin },
    close: () => store.close(),
  };
}

export function createIr(
  session: AdminSession,
  name: string,
  maxNodes: number,
  joinApproval?: JoinApproval,
  factory?: string,
): CommandResult {
  const factoryId = factory === undefined ? undefined : session.factories.byName(factory).id;
  const created = session.registry.createIr(name, maxNodes, session.keyContext, joinApproval, factoryId);
  return {
    json: { irId: created.irId, name: created.name, key1: created.key1, key2: created.key2 },
    text: [
      `Created integration runtime '${created.name}' (${created.irId}) for up to ${created.maxNodes} nodes.`,
      `key1: ${created.key1}`,
      `key2: ${created.key2}`,
      'Keep these keys secret. They are shown only now; the control plane keeps only their hashes.',
      `Register a node with: openir register --key-stdin < key1.txt (the key as one line)`,
    ].join('\n'),
  };
}

/** The IRs (those `visible` lets through: a factory's token sees its own), with the factory of each. */
export function listIrs(
  session: AdminSession,
  visible: (irId: string) => boolean = () => true,
): CommandResult {
  const factories = new Map(session.store.factories.list().map((f) => [f.id, f.name]));
  const factoryOf = new Map(
    session.store.listIrs().map((ir) => [ir.id, factories.get(ir.factoryId) ?? ir.factoryId]),
  );
  const irs = session.registry
    .listIrs()
    .filter((ir) => visible(ir.irId))
    .map((ir) => ({ ...ir, factory: factoryOf.get(ir.irId) ?? '?' }));
  const text =
    irs.length === 0
      ? `No integration runtimes yet. Create one with: ${CLI} ir create <name>`
      : table(
          ['NAME', 'STATUS', 'NODES', 'FACTORY', 'ID', 'CREATED'],
          irs.map((ir) => [
            ir.name,
            ir.status,
            `${ir.nodeCount}/${ir.maxNodes}`,
            ir.factory,
            ir.irId,
            ir.createdAt,
          ]),
        );
  return { json: { irs }, text };
}

export function showKeys(
  session: AdminSession,
  name: string,
  regenerate: string | undefined,
  limits: KeyLimits = {},
): CommandResult {
  if (regenerate === undefined && (limits.expiresInMs || limits.singleUse)) {
    throw new OpenIrError('INVALID_INPUT', '--expires-in and --single-use apply to a new key.', {
      fix: `Give the key to replace: ${CLI} ir keys ${quoteArg(name)} --regenerate key1 --expires-in 30m --single-use`,
    });
  }
  if (regenerate !== undefined) {
    const result = session.registry.regenerateKey(name, parseKeySlot(regenerate), session.keyContext, limits);
    const limitsText = [
      result.expiresAt === null ? null : `It expires at ${result.expiresAt}.`,
      result.singleUse ? 'It registers one node only.' : null,
    ].filter((line): line is string => line !== null);
    return {
      json: {
        name: result.name,
        slot: result.slot,
        key: result.key,
        expiresAt: result.expiresAt,
        singleUse: result.singleUse,
      },
      text: [
        `New ${result.slot} of '${result.name}': ${result.key}`,
        ...limitsText,
        `The previous ${result.slot} can no longer register nodes; nodes already registered stay connected.`,
      ].join('\n'),
    };
  }
  const listing = session.registry.listKeys(name);
  const note =
    'Keys are shown only when created or regenerated; the control plane keeps only their hashes. ' +
    `To get a usable key, regenerate one: ${CLI} ir keys ${quoteArg(listing.name)} --regenerate key1|key2`;
  return {
    json: { ...listing, note },
    text: [
      `Authentication keys of '${listing.name}' (${listing.irId}):`,
      table(
        ['SLOT', 'CREATED', 'EXPIRES', 'SINGLE USE'],
        listing.keys.map((key) => [
          key.slot,
          key.createdAt,
          key.expiresAt ?? 'never',
          key.singleUse ? (key.usedAt ? `used ${key.usedAt}` : 'yes, unused') : 'no',
        ]),
      ),
      note,
    ].join('\n'),
  };
}

/** A node the control plane removed by itself, as `ir nodes` shows it. */
export interface RemovedNodeView {
  nodeId: string;
  name: string;
  reason: 'expired' | 'replaced';
  lastSeenAt: string | null;
  removedAt: string;
}

/**
 * The IR's nodes; its limit and expiry setting, and the latest nodes it
 * removed by itself (so a node that vanished from the list has a reason).
 * Only the server expires nodes (its sweep, each registration), so each
 * removal has its line in the server's log.
 */
export function showNodes(session: AdminSession, name: string): CommandResult {
  const ir = session.registry.irRow(name);
  const summary = session.registry.summaryByName(name);
  const removedNodes: RemovedNodeView[] = session.registry.recentRemovals(ir.id).map((r) => ({
    nodeId: r.nodeId,
    name: r.nodeName,
    reason: r.reason,
    lastSeenAt: r.lastSeenAtMs === null ? null : isoTime(r.lastSeenAtMs),
    removedAt: isoTime(r.removedAtMs),
  }));
  const expireOfflineAfter =
    ir.expireOfflineAfterMs === null ? null : formatDuration(ir.expireOfflineAfterMs);
  const shown = shownNodes(summary);
  return {
    json: {
      ...summary,
      nodes: shown.nodes,
      majorityVersion: shown.majority,
      maxNodes: ir.maxNodes,
      expireOfflineAfter,
      joinApproval: ir.joinApproval,
      removedNodes,
    },
    text: describeSummary(summary, ir.maxNodes, expireOfflineAfter, removedNodes, ir.joinApproval),
  };
}

/** `ir approve`: the node gets jobs, and its peers sync credentials with it, pinning the key approved here. */
export function approveNode(
  session: AdminSession,
  irName: string,
  nodeName: string,
  fingerprint: string | undefined,
): CommandResult {
  const decision = session.registry.approveNode(irName, nodeName, fingerprint);
  const before: Record<NodeDecision['was'], string> = {
    pending: 'It now gets jobs, and its peers sync credentials with it.',
    keyChanged: 'Its new sync key is pinned; its peers sync with it again.',
    approved: 'It was approved already; its sync key is unchanged.',
  };
  return {
    json: decision,
    text: [
      `Approved node '${decision.nodeName}' in '${decision.name}' with sync key ${decision.fingerprint ?? '(none reported yet)'}.`,
      before[decision.was],
      ...(fingerprint === undefined
        ? [`Tip: pass --fingerprint with the value the node shows, so a key swapped on the way is refused.`]
        : []),
    ].join('\n'),
  };
}

/** `ir reject`: the node waiting for approval is removed; its credential stops working. */
export function rejectNode(session: AdminSession, irName: string, nodeName: string): CommandResult {
  const decision = session.registry.rejectNode(irName, nodeName);
  return {
    json: decision,
    text: `Rejected node '${decision.nodeName}' (sync key ${decision.fingerprint ?? 'none'}) and removed it from '${decision.name}'. It never received credentials; its channel closes at its next heartbeat.`,
  };
}

export interface IrUpdate {
  maxNodes?: number;
  /** Milliseconds, or null for off. */
  expireOfflineAfterMs?: number | null;
  joinApproval?: JoinApproval;
}

export function updateIr(session: AdminSession, name: string, update: IrUpdate): CommandResult {
  const lines: string[] = [];
  // Both in one transaction: a refused value leaves the other unchanged too.
  const json = session.store.exclusive(() => {
    const ir = session.registry.irRow(name);
    const result: Record<string, unknown> = { irId: ir.id, name: ir.name };
    if (update.maxNodes !== undefined) {
      const updated = session.registry.updateMaxNodes(name, update.maxNodes);
      result.maxNodes = updated.maxNodes;
      lines.push(`'${updated.name}' now allows up to ${updated.maxNodes} nodes.`);
    }
    if (update.expireOfflineAfterMs !== undefined) {
      const updated = session.registry.updateExpireOfflineAfter(name, update.expireOfflineAfterMs);
      const shown =
        updated.expireOfflineAfterMs === null ? null : formatDuration(updated.expireOfflineAfterMs);
      result.expireOfflineAfter = shown;
      lines.push(
        shown === null
          ? `'${updated.name}' keeps Offline nodes until you remove them (expiry off).`
          : `'${updated.name}' now removes nodes Offline for longer than ${shown}; their slots become free.`,
      );
    }
    if (update.joinApproval !== undefined) {
      const updated = session.registry.updateJoinApproval(name, update.joinApproval);
      result.joinApproval = updated.joinApproval;
      lines.push(
        updated.joinApproval === 'required'
          ? `Nodes joining '${updated.name}' after its first wait Pending until you run: ${CLI} ir approve ${quoteArg(updated.name)} <node> --fingerprint <F>`
          : `Nodes joining '${updated.name}' are approved as they register: anyone with a current auth key receives every credential.`,
      );
    }
    return result;
  });
  return { json, text: lines.join('\n') };
}

export function removeNode(session: AdminSession, irName: string, nodeName: string): CommandResult {
  const removed = session.registry.removeNode(irName, nodeName);
  return {
    json: removed,
    text: `Removed node '${removed.nodeName}' from '${removed.name}'. If it is connected, its channel closes at its next heartbeat.`,
  };
}

function describeSummary(
  summary: IrSummary,
  maxNodes: number,
  expireOfflineAfter: string | null,
  removed: readonly RemovedNodeView[],
  joinApproval: JoinApproval,
): string {
  const head = [
    `Integration runtime '${summary.name}' (${summary.irId}): ${summary.status}`,
    `Nodes: ${summary.nodes.length}/${maxNodes}; expire Offline nodes: ${expireOfflineAfter === null ? 'off' : `after ${expireOfflineAfter}`}; join approval: ${joinApproval}`,
  ].join('\n');
  const waiting = summary.nodes.filter((n) => approvalOf(n) !== 'approved');
  const hints = waiting.map(
    (n) =>
      `'${n.name}' ${approvalOf(n) === 'pending' ? 'waits for approval' : 'reports a sync key other than the approved one; its peers refuse it'}. Compare ${n.syncKeyFingerprint ?? '(no key yet)'} with the node's, then: ${CLI} ir approve ${quoteArg(summary.name)} ${n.name} --fingerprint ${n.syncKeyFingerprint ?? '<F>'} (or ir reject)`,
  );
  const shown = shownNodes(summary);
  const versionHints = shown.nodes
    .filter((n) => n.versionDiffers && n.shownStatus === 'Limited')
    .map(
      (n) =>
        `'${n.name}' runs ${n.version}, not the IR's majority ${shown.majority ?? '?'}: shown as Limited until the IR runs one version (it still gets jobs).`,
    );
  const draining = shown.nodes
    .filter((n) => n.draining)
    .map((n) =>
      n.status === 'Offline'
        ? `'${n.name}' is Upgrading: it drained and stopped; it takes jobs again once it is back.`
        : `'${n.name}' is Upgrading: it drains (no new jobs) and stops once its running jobs finish.`,
    );
  const tail = removed.map(
    (r) =>
      `Removed ${r.removedAt}: '${r.name}' (${r.nodeId}), ${r.reason === 'expired' ? `Offline since ${r.lastSeenAt ?? 'never seen'}, longer than ${expireOfflineAfter ?? 'the expiry then set'}` : 'replaced by a new registration of the same name'}`,
  );
  if (summary.nodes.length === 0)
    return [head, 'No nodes yet. Register one with: openir register --key-stdin < key.txt', ...tail].join(
      '\n',
    );
  return [
    head,
    table(
      [
        'NAME',
        'STATUS',
        'APPROVAL',
        'SYNC KEY',
        'JOBS',
        'FQDN',
        'VERSION',
        'REMOTE ACCESS',
        'LAST SEEN',
        'REGISTERED',
        'NODE ID',
      ],
      shown.nodes.map((node) => [
        node.name,
        node.shownStatus,
        approvalOf(node),
        node.syncKeyFingerprint ?? 'none',
        `${node.runningJobs}/${node.jobLimit}`,
        node.fqdn,
        node.versionDiffers ? `${node.version} (differs)` : node.version,
        node.remoteAccessUrl ?? 'disabled',
        node.lastSeenAt ?? 'never',
        node.registeredAt,
        node.nodeId,
      ]),
    ),
    ...hints,
    ...versionHints,
    ...draining,
    ...tail,
  ].join('\n');
}

/** What `ir nodes` says of a node's approval: pending, approved, or approved with a key since changed. */
function approvalOf(node: IrSummary['nodes'][number]): 'pending' | 'approved' | 'key changed' {
  if (node.approval === 'pending') return 'pending';
  return syncKeyChanged(node) ? 'key changed' : 'approved';
}

function quoteArg(text: string): string {
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : `'${text}'`;
}
