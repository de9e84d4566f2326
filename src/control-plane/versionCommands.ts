import { OpenIrError } from '../shared/errors';
import {
  EXPIRY_WARNING_DAYS,
  ExpiryDateSchema,
  VersionTextSchema,
  compareVersions,
  versionStanding,
  type VersionPolicy,
} from '../shared/versionPolicy';
import type { AdminSession, CommandResult } from './admin';
import { table } from './format';
import { problems } from './problems';

const CLI = 'openir-control-plane';

export interface VersionSetOptions {
  latest: string;
  /** Absent: keep the current minimum; 'none': no minimum. */
  minimum?: string;
  /** `<version>=<YYYY-MM-DD>` each. */
  expires?: string[];
}

/** `version set`: parses everything before writing anything, so a bad value changes nothing. */
export function setVersionPolicy(session: AdminSession, options: VersionSetOptions): CommandResult {
  const latest = parseVersion(options.latest, '--latest');
  const current = session.store.getVersionPolicy();
  const minimum =
    options.minimum === undefined
      ? (current?.minimum ?? null)
      : options.minimum === 'none'
        ? null
        : parseVersion(options.minimum, '--minimum');
  if (minimum !== null && compareVersions(minimum, latest) > 0) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `--minimum ${minimum} is newer than --latest ${latest}: every node would be refused.`,
      { fix: 'Give a minimum at or below the latest version.' },
    );
  }
  const expires = (options.expires ?? []).map(parseExpiry);
  session.store.setVersionPolicy({ latest, minimum, expires }, session.clock.nowMs());
  const shown = showVersionPolicy(session);
  return {
    json: shown.json,
    text: `Version policy saved. Connected nodes learn it with their next heartbeat.\n${shown.text}`,
  };
}

interface NodeStandingView {
  ir: string;
  node: string;
  version: string;
  status: string;
  standing: string;
}

/** `version show`: the policy and what it means for each registered node now. */
export function showVersionPolicy(session: AdminSession): CommandResult {
  const policy = session.store.getVersionPolicy();
  const nowMs = session.clock.nowMs();
  const nodes: NodeStandingView[] = [];
  for (const ir of session.store.listIrs()) {
    const summary = session.registry.summaryByName(ir.name);
    for (const node of summary.nodes) {
      nodes.push({
        ir: summary.name,
        node: node.name,
        version: node.version,
        status: node.status,
        standing: policy ? describeStanding(policy, node.version, nowMs) : 'no policy',
      });
    }
  }
  if (!policy) {
    return {
      json: { policy: null, nodes },
      text: `No version policy is set: every version is accepted and no update is offered.\nSet one with: ${CLI} version set --latest <version> [--minimum <version>] [--expires <version>=<YYYY-MM-DD> ...]`,
    };
  }
  const lines = [
    `Latest version:  ${policy.latest}`,
    `Minimum version: ${policy.minimum ?? 'none'}`,
    `Expiry dates:    ${
      policy.expires.length === 0 ? 'none' : policy.expires.map((e) => `${e.version} on ${e.on}`).join(', ')
    } (nodes warn ${EXPIRY_WARNING_DAYS} days before; refused from that day, 00:00 UTC)`,
    `Set at:          ${policy.updatedAt}`,
  ];
  if (nodes.length > 0) {
    lines.push(
      '',
      table(
        ['IR', 'NODE', 'VERSION', 'STATUS', 'STANDING'],
        nodes.map((n) => [n.ir, n.node, n.version, n.status, n.standing]),
      ),
    );
  }
  return { json: { policy, nodes }, text: lines.join('\n') };
}

function describeStanding(policy: VersionPolicy, version: string, nowMs: number): string {
  const standing = versionStanding(policy, version, nowMs);
  if (standing.refused === 'expired') return `refused: expired on ${standing.expiresOn ?? '?'}`;
  if (standing.refused === 'belowMinimum') return `refused: below the minimum ${policy.minimum ?? ''}`;
  const parts: string[] = [];
  if (standing.updateAvailable) parts.push(`update available: ${standing.updateAvailable}`);
  if (standing.expiresOn) parts.push(`expires on ${standing.expiresOn}`);
  return parts.length > 0 ? parts.join('; ') : 'current';
}

/** `ir drain <ir> <node>`: recorded here; the woken server tells the node on its channel. */
export function drainNode(session: AdminSession, irName: string, nodeName: string): CommandResult {
  const ir = session.registry.irRow(irName);
  const node = session.store.findNodeByName(ir.id, nodeName);
  if (!node) throw problems.nodeNotFound(ir.name, nodeName);
  session.store.requestDrain(node.id);
  const json = {
    irId: ir.id,
    name: ir.name,
    nodeId: node.id,
    nodeName: node.name,
    connected: node.connected,
  };
  return {
    json,
    text: node.connected
      ? `Asked node '${node.name}' in '${ir.name}' to drain: it takes no new jobs, finishes the ${node.runningJobs} it runs, then stops its service. \`${CLI} ir nodes ${quoteArg(ir.name)}\` shows it as Upgrading meanwhile.`
      : `Node '${node.name}' in '${ir.name}' is not connected: it gets no new jobs, and drains as soon as it connects again.`,
  };
}

function parseVersion(text: string, flag: string): string {
  const parsed = VersionTextSchema.safeParse(text);
  if (!parsed.success) {
    throw new OpenIrError('INVALID_INPUT', `${flag} '${text}' is not a version.`, {
      fix: 'Give major.minor.patch, e.g. 0.2.0.',
    });
  }
  return parsed.data;
}

function parseExpiry(text: string): { version: string; on: string } {
  const at = text.indexOf('=');
  const version = at < 0 ? '' : text.slice(0, at);
  const on = at < 0 ? '' : text.slice(at + 1);
  if (!VersionTextSchema.safeParse(version).success || !ExpiryDateSchema.safeParse(on).success) {
    throw new OpenIrError('INVALID_INPUT', `--expires '${text}' is not <version>=<YYYY-MM-DD>.`, {
      fix: 'For example: --expires 0.1.0=2027-06-30 (a real date; the version is refused from that day).',
    });
  }
  return { version, on };
}

function quoteArg(text: string): string {
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : `'${text}'`;
}
