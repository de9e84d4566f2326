import { randomUUID } from 'node:crypto';
import { isValidIrName } from '../shared/authKey';
import { OpenIrError } from '../shared/errors';
import type { AdminSession, CommandResult } from './admin';
import { isoTime } from './clock';
import { table } from './format';
import { problems } from './problems';
import { DEFAULT_MAX_LINKS, MAX_LINKS_CEILING } from './shareStore';
import type { IrRow } from './store';

const CLI = 'openir-control-plane';

/*
 * Sharing an IR with other data factories. The owner grants a factory; that
 * factory makes a linked IR (an IR row of its own, with no keys and no nodes,
 * plus an `ir_links` row naming the shared IR); jobs submitted to the linked
 * IR are stored on it (so only the linking factory sees them) and the
 * dispatcher runs them on the shared IR's nodes. Revoking the grant leaves the
 * linked IR in place, Unshared, refusing new jobs with the reason.
 */

/** `factories/<factory>/integrationRuntimes/<ir>`: how another factory names a shared IR. */
export function resourceIdOf(factoryName: string, irName: string): string {
  return `factories/${factoryName}/integrationRuntimes/${irName}`;
}

const RESOURCE_ID_RE = /^factories\/([^/]{1,80})\/integrationRuntimes\/([^/]{1,80})$/;

export function parseResourceId(text: string): { factory: string; ir: string } {
  const match = RESOURCE_ID_RE.exec(text.trim());
  if (!match?.[1] || !match[2]) {
    throw new OpenIrError('INVALID_INPUT', `'${text}' is not the resource ID of an integration runtime.`, {
      fix: 'Use the form factories/<factory>/integrationRuntimes/<ir>, as `ir shares <ir>` prints it on the owner side.',
    });
  }
  return { factory: match[1], ir: match[2] };
}

export type LinkState = 'Linked' | 'Unshared';

/** What a linking factory sees of one node of the shared IR: status, version and load, nothing else. */
export interface SharedNodeView {
  name: string;
  status: string;
  version: string;
  runningJobs: number;
  jobLimit: number;
}

function summaryOrNull(
  session: AdminSession,
  irId: string,
): { status: string; nodes: SharedNodeView[] } | null {
  const summary = session.registry.summaryById(irId);
  if (!summary) return null;
  return {
    status: summary.status,
    nodes: summary.nodes
      .filter((node) => node.approval === 'approved')
      .map((node) => ({
        name: node.name,
        status: node.status,
        version: node.version,
        runningJobs: node.runningJobs,
        jobLimit: node.jobLimit,
      })),
  };
}

export interface LinkView {
  /** The shared IR's resource ID. */
  sharedIr: string;
  state: LinkState;
  /** Why the linked IR cannot run jobs, with the fix; null while Linked. */
  reason: string | null;
  /** The shared IR's status and nodes (status, version, load), read-only; nothing else of the other factory. */
  sharedStatus: string | null;
  nodes: SharedNodeView[];
}

function factoryName(session: AdminSession, factoryId: string): string {
  return session.factories.byId(factoryId)?.name ?? factoryId;
}

/** An IR the acting token owns (instance admin: any IR), else IR_NOT_FOUND as if it did not exist. */
function ownedIr(session: AdminSession, name: string, acting: string | null): IrRow {
  const ir = session.store.findIrByName(name);
  if (!ir || (acting !== null && ir.factoryId !== acting)) throw problems.irNotFoundByName(name);
  return ir;
}

function notLinkable(ir: IrRow, session: AdminSession): void {
  if (session.store.shares.linkOf(ir.id)) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `'${ir.name}' is a linked IR; only an IR with its own nodes can be shared.`,
      {
        fix: "Share the IR it links to from that IR's own factory.",
      },
    );
  }
}

export function shareIr(
  session: AdminSession,
  irName: string,
  withFactory: string,
  acting: string | null = null,
): CommandResult {
  const ir = ownedIr(session, irName, acting);
  notLinkable(ir, session);
  const factory = session.factories.byName(withFactory);
  if (factory.id === ir.factoryId) {
    throw new OpenIrError('INVALID_INPUT', `'${ir.name}' already belongs to '${factory.name}'.`, {
      fix: 'Share it with another data factory.',
    });
  }
  const added = session.store.exclusive(() =>
    session.store.shares.grant(ir.id, factory.id, session.clock.nowMs()),
  );
  const resourceId = resourceIdOf(factoryName(session, ir.factoryId), ir.name);
  return {
    json: { ir: ir.name, factory: factory.name, resourceId, granted: true, alreadyGranted: !added },
    text: [
      added
        ? `Shared '${ir.name}' with data factory '${factory.name}'.`
        : `'${ir.name}' was already shared with '${factory.name}'.`,
      `Resource ID: ${resourceId}`,
      `'${factory.name}' links it with: ${CLI} ir link <name> --shared ${resourceId} --factory ${factory.name}`,
      `(or POST /api/v1/admin/linked-irs with its token). Its jobs use only the node credentials that list it: openir credential set … --allow-factory ${factory.name}.`,
    ].join('\n'),
  };
}

export function unshareIr(
  session: AdminSession,
  irName: string,
  withFactory: string,
  acting: string | null = null,
): CommandResult {
  const ir = ownedIr(session, irName, acting);
  const factory = session.factories.byName(withFactory);
  const { removed, failed, links } = session.store.exclusive(() => {
    const removed = session.store.shares.revoke(ir.id, factory.id);
    const links = session.store.shares
      .linksTo(ir.id)
      .map((link) => session.store.findIrById(link.irId))
      .filter((linked): linked is IrRow => linked !== null && linked.factoryId === factory.id);
    const failed = session.store.shares.failQueuedOf(
      links.map((linked) => linked.id),
      unsharedReason(session, ir, factory.name),
      session.clock.nowMs(),
    );
    return { removed, failed, links };
  });
  if (!removed) {
    throw new OpenIrError('NOT_FOUND', `'${ir.name}' is not shared with '${factory.name}'.`, {
      fix: `See its grants with ${CLI} ir shares ${ir.name}.`,
    });
  }
  return {
    json: {
      ir: ir.name,
      factory: factory.name,
      unshared: true,
      linkedIrs: links.map((linked) => linked.name),
      queuedJobsFailed: failed,
    },
    text: [
      `'${ir.name}' is no longer shared with '${factory.name}'.`,
      links.length > 0
        ? `Its linked IR(s) ${links.map((l) => `'${l.name}'`).join(', ')} are Unshared now and refuse new jobs${failed > 0 ? `; ${failed} queued job(s) failed with IR_NOT_SHARED` : ''}. Jobs already running finish.`
        : `'${factory.name}' had no linked IR.`,
    ].join('\n'),
  };
}

/** Creates a linked IR named `name` in `linkingFactory` for the shared IR the resource ID names. */
export function linkIr(
  session: AdminSession,
  name: string,
  resourceId: string,
  linkingFactory: string,
): CommandResult {
  if (!isValidIrName(name)) throw problems.invalidIrName(name);
  const factory = session.factories.byName(linkingFactory);
  const target = parseResourceId(resourceId);
  const created = session.store.exclusive(() => {
    const owner = session.store.factories.findByName(target.factory);
    const shared = session.store.findIrByName(target.ir);
    // One answer for "no such IR" and "not shared with you": a factory learns nothing of IRs not shared with it.
    if (
      !owner ||
      !shared ||
      shared.factoryId !== owner.id ||
      !session.store.shares.isGranted(shared.id, factory.id)
    ) {
      throw new OpenIrError(
        'IR_NOT_SHARED',
        `No integration runtime ${resourceId} is shared with '${factory.name}'.`,
        {
          fix: `Ask the owner's admin to run: ${CLI} ir share ${target.ir} --with ${factory.name}; then link it again.`,
        },
      );
    }
    const count = session.store.shares.countLinksTo(shared.id);
    const max = session.store.shares.maxLinks(shared.id);
    if (count >= max) {
      throw new OpenIrError(
        'LINK_LIMIT_REACHED',
        `${resourceId} already has ${count} linked IRs, its limit (${max}); this link was not made.`,
        {
          fix: `Remove a linked IR it no longer needs, or ask its owner to raise the limit: ${CLI} ir update ${shared.name} --max-links <n> (up to ${MAX_LINKS_CEILING}).`,
        },
      );
    }
    if (session.store.findIrByName(name)) throw problems.irExists(name);
    const now = session.clock.nowMs();
    const linked: IrRow = {
      id: randomUUID(),
      name,
      maxNodes: 1,
      createdAtMs: now,
      expireOfflineAfterMs: null,
      joinApproval: 'required',
      factoryId: factory.id,
    };
    session.store.insertIr(linked);
    session.store.shares.insertLink({ irId: linked.id, sharedIrId: shared.id, createdAtMs: now });
    return linked;
  });
  return {
    json: {
      irId: created.id,
      name: created.name,
      factory: factory.name,
      linked: true,
      sharedIr: resourceIdOf(target.factory, target.ir),
    },
    text: [
      `Created linked IR '${created.name}' in '${factory.name}' (${created.id}); its jobs run on the nodes of ${resourceIdOf(target.factory, target.ir)}.`,
      `Submit jobs to it as to any IR: ${CLI} job submit --ir ${created.name} …, or POST /api/v1/admin/jobs with ${factory.name}'s token.`,
    ].join('\n'),
  };
}

/** What the owner sees of its IR's sharing: the factories granted, its linked IRs with their factories, the limit. */
export function irShares(session: AdminSession, irName: string, acting: string | null = null): CommandResult {
  const ir = ownedIr(session, irName, acting);
  notLinkable(ir, session);
  const grants = session.store.shares.grantsOf(ir.id).map((grant) => ({
    factory: factoryName(session, grant.factoryId),
    grantedAt: isoTime(grant.createdAtMs),
  }));
  const links = session.store.shares.linksTo(ir.id).flatMap((link) => {
    const linked = session.store.findIrById(link.irId);
    if (!linked) return [];
    return [
      {
        name: linked.name,
        factory: factoryName(session, linked.factoryId),
        state: (session.store.shares.isGranted(ir.id, linked.factoryId) ? 'Linked' : 'Unshared') as LinkState,
        linkedAt: isoTime(link.createdAtMs),
      },
    ];
  });
  const maxLinks = session.store.shares.maxLinks(ir.id);
  const resourceId = resourceIdOf(factoryName(session, ir.factoryId), ir.name);
  return {
    json: { ir: ir.name, resourceId, grants, links, maxLinks },
    text: [
      `Resource ID: ${resourceId}`,
      `Shared with: ${grants.length > 0 ? grants.map((g) => g.factory).join(', ') : '(nobody)'}`,
      `Linked IRs: ${links.length} of at most ${maxLinks}`,
      ...(links.length > 0
        ? [
            table(
              ['LINKED IR', 'FACTORY', 'STATE', 'LINKED'],
              links.map((l) => [l.name, l.factory, l.state, l.linkedAt]),
            ),
          ]
        : []),
    ].join('\n'),
  };
}

export function setMaxLinks(
  session: AdminSession,
  irName: string,
  maxLinks: number,
  acting: string | null = null,
): CommandResult {
  if (!Number.isInteger(maxLinks) || maxLinks < 1 || maxLinks > MAX_LINKS_CEILING) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `The most linked IRs must be a whole number from 1 to ${MAX_LINKS_CEILING}, not ${maxLinks}.`,
      {
        fix: `E.g. --max-links ${DEFAULT_MAX_LINKS} (the default).`,
      },
    );
  }
  const ir = ownedIr(session, irName, acting);
  notLinkable(ir, session);
  const existing = session.store.exclusive(() => {
    session.store.shares.setMaxLinks(ir.id, maxLinks);
    return session.store.shares.countLinksTo(ir.id);
  });
  return {
    json: { ir: ir.name, maxLinks, linkedIrs: existing },
    text: `'${ir.name}' now takes at most ${maxLinks} linked IRs (it has ${existing}${existing > maxLinks ? '; the existing ones stay, no new one is accepted' : ''}).`,
  };
}

function unsharedReason(session: AdminSession, shared: IrRow, linkingFactory: string): string {
  const owner = factoryName(session, shared.factoryId);
  return `'${shared.name}' of data factory '${owner}' is no longer shared with '${linkingFactory}', so this linked IR runs no new jobs. Ask its owner to share it again: ${CLI} ir share ${shared.name} --with ${linkingFactory}.`;
}

/** A linked IR's state as its own factory sees it; null for an IR with its own nodes. */
export function linkViewOf(session: AdminSession, ir: IrRow): LinkView | null {
  const link = session.store.shares.linkOf(ir.id);
  if (!link) return null;
  const shared = session.store.findIrById(link.sharedIrId);
  const linkingFactory = factoryName(session, ir.factoryId);
  if (!shared) {
    return {
      sharedIr: '(deleted)',
      state: 'Unshared',
      reason: `The integration runtime this IR linked to was deleted, so it runs no new jobs. Delete this linked IR, or link another shared IR.`,
      sharedStatus: null,
      nodes: [],
    };
  }
  const resourceId = resourceIdOf(factoryName(session, shared.factoryId), shared.name);
  const granted = session.store.shares.isGranted(shared.id, ir.factoryId);
  const summary = summaryOrNull(session, shared.id);
  return {
    sharedIr: resourceId,
    state: granted ? 'Linked' : 'Unshared',
    reason: granted ? null : unsharedReason(session, shared, linkingFactory),
    // Once unshared, the linking factory sees nothing more of the other factory's IR.
    sharedStatus: granted ? (summary?.status ?? null) : null,
    nodes: granted ? (summary?.nodes ?? []) : [],
  };
}

/** Refuses a job for a linked IR whose grant was revoked (or whose shared IR is gone), with the reason. */
export function assertCanRunJobs(session: AdminSession, ir: IrRow): void {
  const view = linkViewOf(session, ir);
  if (view && view.state !== 'Linked') {
    throw new OpenIrError('IR_NOT_SHARED', `The linked IR '${ir.name}' is Unshared: ${view.reason ?? ''}`, {
      fix: `Ask the owner of ${view.sharedIr} to share it with your data factory again, then resubmit.`,
    });
  }
}
