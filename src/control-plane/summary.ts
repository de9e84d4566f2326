import type { IrNodeInfo, IrSummary } from '../shared/controlPlaneApi';
import { deriveIrStatus, deriveNodeStatusOnControlPlane } from '../shared/status';
import { isoTime } from './clock';
import type { IrRow, NodeRow } from './store';

export function nodeInfo(node: NodeRow, nowMs: number, heartbeatTimeoutMs: number): IrNodeInfo {
  return {
    nodeId: node.id,
    name: node.name,
    fqdn: node.fqdn,
    version: node.version,
    status: deriveNodeStatusOnControlPlane(
      { connected: node.connected, lastSeenMs: node.lastSeenAtMs, peersReachable: node.peersReachable },
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
  };
}

export function irSummary(
  ir: IrRow,
  nodes: readonly NodeRow[],
  nowMs: number,
  heartbeatTimeoutMs: number,
): IrSummary {
  const infos = nodes.map((node) => nodeInfo(node, nowMs, heartbeatTimeoutMs));
  return { irId: ir.id, name: ir.name, status: deriveIrStatus(infos.map((n) => n.status)), nodes: infos };
}

/**
 * What nodes are told about at once: membership, statuses and how to reach
 * peers; not timestamps or job counts that move every heartbeat (those reach
 * them with the next heartbeat answer).
 */
export function statusFingerprint(summary: IrSummary): string {
  return [
    summary.status,
    ...summary.nodes.map(
      (node) =>
        `${node.nodeId}=${node.status}@${node.remoteAccessUrl ?? ''}#${node.remoteAccessCertSha256 ?? ''}#${node.peerKey ?? ''}`,
    ),
  ].join('|');
}
