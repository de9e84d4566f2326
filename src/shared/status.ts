import { z } from 'zod';

export const NODE_STATUSES = [
  'NeedRegistration',
  'Registering',
  'Connecting',
  /** Registered and connected, waiting for an admin's approval: no jobs, no credentials. */
  'Pending',
  'Online',
  'Limited',
  'Offline',
  'Stopped',
] as const;
export const NodeStatusSchema = z.enum(NODE_STATUSES);
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

export const IR_STATUSES = ['NeedRegistration', 'Online', 'Limited', 'Offline'] as const;
export const IrStatusSchema = z.enum(IR_STATUSES);
export type IrStatus = z.infer<typeof IrStatusSchema>;

/** What the node knows about itself; the status shown everywhere is derived from it. */
export interface NodeFacts {
  serviceRunning: boolean;
  registered: boolean;
  registering: boolean;
  /** State of the outbound control channel to the control plane. */
  channel: 'idle' | 'connecting' | 'open' | 'unreachable';
  /** False when intranet communication with peer nodes is failing. */
  peersReachable: boolean;
  /** The control plane lists this node as waiting for approval. */
  pendingApproval?: boolean;
}

export function deriveNodeStatus(facts: NodeFacts): NodeStatus {
  if (facts.registering) return 'Registering';
  if (!facts.serviceRunning) return 'Stopped';
  if (!facts.registered) return 'NeedRegistration';
  switch (facts.channel) {
    case 'open':
      if (facts.pendingApproval) return 'Pending';
      return facts.peersReachable ? 'Online' : 'Limited';
    case 'unreachable':
      return 'Offline';
    case 'idle':
    case 'connecting':
      return 'Connecting';
  }
}

/** What the control plane knows of one node; its status there is derived from it. */
export interface NodeSighting {
  connected: boolean;
  /** Milliseconds since epoch of the last heartbeat, or null if never seen. */
  lastSeenMs: number | null;
  peersReachable: boolean;
  /** Waiting for `ir approve`. */
  pending?: boolean;
}

export function deriveNodeStatusOnControlPlane(
  sighting: NodeSighting,
  nowMs: number,
  heartbeatTimeoutMs: number,
): NodeStatus {
  if (!sighting.connected || sighting.lastSeenMs === null) return 'Offline';
  if (nowMs - sighting.lastSeenMs > heartbeatTimeoutMs) return 'Offline';
  if (sighting.pending) return 'Pending';
  return sighting.peersReachable ? 'Online' : 'Limited';
}

/** PRODUCT.md: no node → NeedRegistration; all Online → Online; all Offline → Offline; otherwise Limited. */
export function deriveIrStatus(all: readonly NodeStatus[]): IrStatus {
  // A node waiting for approval serves nothing yet: it neither makes the IR Online nor Limited.
  const nodeStatuses = all.filter((s) => s !== 'Pending');
  if (nodeStatuses.length === 0) return 'NeedRegistration';
  const up = nodeStatuses.filter((s) => s === 'Online' || s === 'Limited');
  if (up.length === 0) return 'Offline';
  if (up.length === nodeStatuses.length && up.every((s) => s === 'Online')) return 'Online';
  return 'Limited';
}
