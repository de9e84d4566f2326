import type { IrNodeInfo, IrSummary } from '../shared/controlPlaneApi';
import { deriveIrStatus, deriveNodeStatusOnControlPlane } from '../shared/status';
import { isoTime } from './clock';
import type { IrRow, NodeRow } from './store';
import { syncKeyFingerprint } from './syncKey';

export function nodeInfo(node: NodeRow, nowMs: number, heartbeatTimeoutMs: number): IrNodeInfo {
  return {
    nodeId: node.id,
    name: node.name,
    fqdn: node.fqdn,
    version: node.version,
    status: deriveNodeStatusOnControlPlane(
      {
        connected: node.connected,
        lastSeenMs: node.lastSeenAtMs,
        peersReachable: node.peersReachable,
        pending: node.approval === 'pending',
      },
      nowMs,
      heartbeatTimeoutMs,
    ),
    registeredAt: isoTime(node.registeredAtMs),
    lastSeenAt: node.lastSeenAtMs === null ? null : isoTime(node.lastSeenAtMs),
    runningJobs: node.runningJobs,
    jobLimit: node.jobLimit,
    remoteAccessUrl: node.remoteAccessUrl,
    remoteAccessCertSha256: node.remoteAccessCertSha256,
    peerKey: node.peerKey,
    approval: node.approval,
    approvedPeerKey: node.approvedPeerKey,
    syncKeyFingerprint: node.peerKey ? syncKeyFingerprint(node.peerKey) : null,
    draining: node.draining || node.drainRequested,
  };
}

/**
 * What one node is told about its IR: everything, once it is approved; only
 * itself while it waits, so a pending node learns no peer's address or key
 * (and cannot start a credential sync with anyone).
 */
export function summaryForNode(summary: IrSummary, nodeId: string): IrSummary {
  const self = summary.nodes.find((node) => node.nodeId === nodeId);
  if (self?.approval === 'approved') return summary;
  return { ...summary, nodes: self ? [self] : [] };
}

export function irSummary(
  ir: IrRow,
  nodes: readonly NodeRow[],
  nowMs: number,
  heartbeatTimeoutMs: number,
): IrSummary {
  const infos = nodes.map((node) => nodeInfo(node, nowMs, heartbeatTimeoutMs));
  // Only approved nodes serve the IR: one waiting for approval (Online or Offline) does not change its status.
  const serving = infos.filter((n) => n.approval === 'approved');
  return { irId: ir.id, name: ir.name, status: deriveIrStatus(serving.map((n) => n.status)), nodes: infos };
}

/**
 * What nodes are told about at once: membership, statuses and how to reach
 * peers; not timestamps or job counts that move every heartbeat (those reach
 * them with the next heartbeat answer).
 */
export function statusFingerprint(summary: IrSummary): string {
  return [
    summary.status,
    `shared:${(summary.sharedWith ?? []).join(',')}`,
    ...summary.nodes.map(
      (node) =>
        `${node.nodeId}=${node.status}@${node.remoteAccessUrl ?? ''}#${node.remoteAccessCertSha256 ?? ''}#${node.peerKey ?? ''}#${node.approval}#${node.approvedPeerKey ?? ''}#${node.draining ? 'draining' : ''}`,
    ),
  ].join('|');
}
