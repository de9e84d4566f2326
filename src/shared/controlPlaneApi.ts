import { z } from 'zod';
import { ERROR_CODES } from './errors';
import {
  JOB_NOTE_MAX,
  JobFormatSchema,
  JobIdSchema,
  JobModeSchema,
  JobSinkSchema,
  JobSourceSchema,
} from './jobs';
import { IrStatusSchema, NodeStatusSchema } from './status';
import { VersionPolicySchema } from './versionPolicy';

/**
 * The wire between a node and the control plane: the registration request
 * and the messages of the control channel (a WebSocket over TLS).
 */
export const CONTROL_PLANE_PATHS = {
  register: '/api/v1/nodes/register',
  channel: '/api/v1/channel',
  health: '/api/v1/health',
  /** DELETE, as the node: a node unregistering itself. GET, as the node: is this node credential accepted (troubleshoot)? */
  nodeSelf: '/api/v1/nodes/self',
  /** POST { irId, secret }: is this auth key valid now? Registers nothing (`register --replace` asks first). */
  keyCheck: '/api/v1/keys/check',
} as const;

export const KeyCheckRequestSchema = z
  .object({ irId: z.string().min(1), secret: z.string().min(1) })
  .strict();
export type KeyCheckRequest = z.infer<typeof KeyCheckRequestSchema>;

export const NodeNameSchema = z
  .string()
  .trim()
  .min(1, 'The node name is empty.')
  .max(63, 'The node name is longer than 63 characters.')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'The node name may contain letters, digits, ".", "_" and "-" only.');

/** SHA-256 of a certificate, hex, as Node's `fingerprint256` prints it (AB:CD:…). */
const Fingerprint256Schema = z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

/**
 * What peers need to reach a node and trust what it says: its remote-access
 * URL, the SHA-256 of the certificate that listener presents (pinned by peers,
 * so self-signed certificates need no trust store), and its X25519 public key
 * for sealing credential-sync exchanges end to end.
 */
/**
 * Where a node's remote-access listener is: `http(s)://host:port` and nothing
 * else (no user, path, query or fragment). A node advertises it and its peers
 * call it, so a node must not be able to make its peers call an arbitrary
 * address or path (security review): the control plane refuses anything else
 * at registration and in heartbeats, and a peer ignores it in summaries.
 */
export const PeerUrlSchema = z
  .string()
  .max(300)
  .refine(isPeerUrl, 'A remote-access URL is http(s)://host:port, with nothing after the port.');

export function isPeerUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    url.hostname !== '' &&
    url.port !== '' &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '' &&
    // Written with no path at all: "https://h:8060" (URL gives "/"), never "https://h:8060/x".
    /^https?:\/\/[^/?#@]+$/u.test(text)
  );
}

const PeerIdentityShape = {
  remoteAccessUrl: PeerUrlSchema.nullable().optional(),
  remoteAccessCertSha256: Fingerprint256Schema.nullable().optional(),
  /** base64 of the X25519 public key (SPKI DER). */
  peerKey: z.string().max(200).nullable().optional(),
};

export const RegisterRequestSchema = z.object({
  irId: z.string().min(1),
  secret: z.string().min(1),
  nodeName: NodeNameSchema,
  fqdn: z.string().min(1).max(253),
  version: z.string().min(1).max(40),
  platform: z.string().max(40),
  ...PeerIdentityShape,
  /**
   * If the IR already has a node of this name, remove it and register in its
   * place (a machine whose data was lost). Only with a valid key of that IR.
   */
  replace: z.boolean().optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

export const RegisterResponseSchema = z.object({
  irId: z.string(),
  irName: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  nodeCredential: z.string().min(32),
  heartbeatIntervalMs: z.number().int().positive(),
  heartbeatTimeoutMs: z.number().int().positive(),
  /** The id of the node of the same name this registration replaced (`replace`), if any. */
  replacedNodeId: z.string().nullable().optional(),
  /** 'pending': the node waits for `ir approve` before it gets jobs or credentials. */
  approval: z.enum(['pending', 'approved']).optional(),
});
export type RegisterResponse = z.infer<typeof RegisterResponseSchema>;

export const IrNodeInfoSchema = z.object({
  nodeId: z.string(),
  name: z.string(),
  fqdn: z.string(),
  version: z.string(),
  status: NodeStatusSchema,
  registeredAt: z.string(),
  lastSeenAt: z.string().nullable(),
  runningJobs: z.number().int().nonnegative(),
  jobLimit: z.number().int().nonnegative(),
  /** Where peers reach this node's remote-access listener; null while it is disabled (or not a peer URL). */
  remoteAccessUrl: PeerUrlSchema.nullable().default(null).catch(null),
  remoteAccessCertSha256: z.string().nullable().default(null),
  /** The sync key the node reports now. */
  peerKey: z.string().nullable().default(null),
  /**
   * Whether an admin approved the node (or the IR's join policy did).
   * Peers sync credentials only with approved nodes; a control plane of
   * the previous version sends none, and its nodes count as approved.
   */
  approval: z.enum(['pending', 'approved']).default('approved'),
  /**
   * The sync key approved for the node, which its peers pin: one that
   * reports another key is refused until it is approved again. Null: no
   * pin (previous version), peers use `peerKey`.
   */
  approvedPeerKey: z.string().nullable().default(null),
  /** `SHA256:…` of `peerKey`, as the node shows it. */
  syncKeyFingerprint: z.string().nullable().default(null),
  /**
   * The node drains (`openir drain` or `ir drain`): it takes no new jobs,
   * finishes its running ones and stops; the control plane shows it as
   * Upgrading. A control plane of the previous version sends none.
   */
  draining: z.boolean().optional(),
});
export type IrNodeInfo = z.infer<typeof IrNodeInfoSchema>;

export const IrSummarySchema = z.object({
  irId: z.string(),
  name: z.string(),
  status: IrStatusSchema,
  nodes: z.array(IrNodeInfoSchema),
  /** The data factories this IR is shared with (names); absent when none, or from older control planes. */
  sharedWith: z.array(z.string()).optional(),
});
export type IrSummary = z.infer<typeof IrSummarySchema>;

/** Node → control plane. */
export const NodeMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('heartbeat'),
    runningJobs: z.number().int().nonnegative(),
    jobLimit: z.number().int().nonnegative(),
    cpuPercent: z.number().min(0).max(100),
    memoryUsedBytes: z.number().nonnegative(),
    memoryTotalBytes: z.number().nonnegative(),
    /**
     * Monitoring (optional, so heartbeats of older nodes still validate): the
     * memory the OS could give new work, and the machine's network byte
     * counters since boot (all interfaces but loopback; Linux only, absent
     * elsewhere). Machine-wide, not this process: no OS offers a cheap
     * per-process figure.
     */
    memoryAvailableBytes: z.number().nonnegative().optional(),
    networkSentBytes: z.number().nonnegative().optional(),
    networkReceivedBytes: z.number().nonnegative().optional(),
    peersReachable: z.boolean(),
    /** The node's remote-access endpoint, certificate and sync key, so the control plane and peers know them. */
    ...PeerIdentityShape,
    /** Jobs running here now, so a reconnecting node's lost or stale jobs are found at once. */
    activeJobIds: z.array(JobIdSchema).max(1024).optional(),
    /** The OpenIR version the node runs now (it may have been updated since it registered). */
    version: z.string().min(1).max(40).optional(),
    /** The node is draining: no new jobs for it; it stops once its running jobs finish. */
    draining: z.boolean().optional(),
  }),
  /** The node took the job on; it is Running from now. */
  z.object({ type: z.literal('jobAccepted'), jobId: JobIdSchema, attempt: z.number().int().positive() }),
  /**
   * The node does not take the job on: it already runs as many jobs as its
   * own limit allows (the control plane's count was behind, e.g. the limit was
   * just lowered). The job goes back to the queue; a heartbeat with the
   * node's current limit is sent just before.
   */
  z.object({
    type: z.literal('jobRefused'),
    jobId: JobIdSchema,
    attempt: z.number().int().positive(),
    reason: z.string().max(500),
  }),
  /** At most every 500 ms while a job runs. */
  z.object({
    type: z.literal('jobProgress'),
    jobId: JobIdSchema,
    bytes: z.number().int().nonnegative(),
    rows: z.number().int().nonnegative().optional(),
    /** Bytes per second since the job started. */
    rate: z.number().nonnegative(),
    /**
     * What the copy went through besides moving bytes, in words: a transient
     * failure it is retrying, or the byte it resumed at. Kept until the next note.
     */
    note: z.string().max(JOB_NOTE_MAX).optional(),
  }),
  z.object({
    type: z.literal('jobFinished'),
    jobId: JobIdSchema,
    state: z.enum(['Succeeded', 'Failed', 'Cancelled']),
    reason: z.string().max(2000).optional(),
    /** Stable error code of a failure (e.g. LOCAL_PATH_NOT_ALLOWED). */
    code: z.enum(ERROR_CODES).optional(),
    bytes: z.number().int().nonnegative(),
    rows: z.number().int().nonnegative().optional(),
    /** SHA-256 (hex) of the bytes written to the sink. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
]);
export type NodeMessage = z.infer<typeof NodeMessageSchema>;

/** What a node accepts of the heartbeat timings a control plane sends it. */
export const HEARTBEAT_LIMITS = {
  minIntervalMs: 100,
  maxIntervalMs: 60_000,
  minTimeoutMs: 500,
  maxTimeoutMs: 600_000,
} as const;

/**
 * The heartbeat timings a node uses, from those it was sent: a control plane
 * (or whoever answers in its place) must not make a node send a heartbeat
 * every millisecond, or wait an hour to notice the channel is gone. The
 * interval is kept within 100 ms…60 s, the timeout within 500 ms…10 min and
 * at least two intervals.
 */
export function clampHeartbeat(sent: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number }): {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  clamped: boolean;
} {
  const limits = HEARTBEAT_LIMITS;
  const within = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));
  const heartbeatIntervalMs = within(sent.heartbeatIntervalMs, limits.minIntervalMs, limits.maxIntervalMs);
  const heartbeatTimeoutMs = within(
    sent.heartbeatTimeoutMs,
    Math.max(limits.minTimeoutMs, 2 * heartbeatIntervalMs),
    limits.maxTimeoutMs,
  );
  return {
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    clamped:
      heartbeatIntervalMs !== sent.heartbeatIntervalMs || heartbeatTimeoutMs !== sent.heartbeatTimeoutMs,
  };
}

/** Control plane → node. */
export const ControlPlaneMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    nodeId: z.string(),
    heartbeatIntervalMs: z.number().int().positive(),
    heartbeatTimeoutMs: z.number().int().positive(),
    ir: IrSummarySchema,
    /** The version policy (`version set`); absent when none is set or from an older control plane. */
    versionPolicy: VersionPolicySchema.nullable().optional(),
  }),
  z.object({
    type: z.literal('heartbeatAck'),
    ir: IrSummarySchema,
    versionPolicy: VersionPolicySchema.nullable().optional(),
  }),
  z.object({ type: z.literal('irChanged'), ir: IrSummarySchema }),
  /** Run this job; `attempt` grows each time the job is re-queued. */
  z.object({
    type: z.literal('jobAssigned'),
    jobId: JobIdSchema,
    attempt: z.number().int().positive(),
    source: JobSourceSchema,
    sink: JobSinkSchema,
    format: JobFormatSchema,
    /** A table sink's load mode; absent (older control planes) means append. */
    mode: JobModeSchema.optional(),
    /**
     * The data factory that submitted the job and the one that owns this node's IR. They differ for a
     * job of a linked IR: the node then lets it use only credentials whose allowFactories list `factory`.
     */
    factory: z.string().max(80).optional(),
    ownerFactory: z.string().max(80).optional(),
  }),
  z.object({ type: z.literal('jobCancel'), jobId: JobIdSchema }),
  /** `ir drain <ir> <node>`: take no new jobs, finish the running ones, then stop the service. */
  z.object({ type: z.literal('drain') }),
]);
export type ControlPlaneMessage = z.infer<typeof ControlPlaneMessageSchema>;

/** WebSocket close codes the control plane uses so a node knows whether to retry. */
export const CHANNEL_CLOSE = {
  /** The node was removed or its credential is no longer valid: do not retry blindly. */
  credentialRejected: 4401,
  /**
   * Another host is connected as this node right now and answers: two hosts
   * share one node identity (a cloned VM, a data directory restored twice).
   * The newcomer is refused; it must not retry in a loop (DUPLICATE_NODE).
   */
  duplicate: 4409,
  /** A newer connection of the same node replaced this one, which had stopped answering. */
  replaced: 4410,
  /** Heartbeats stopped arriving. */
  heartbeatTimeout: 4408,
  /**
   * The node's version is past its expiry date or below the minimum of the
   * version policy (VERSION_EXPIRED). The reason carries the message; the node
   * retries rarely, in case the admin changes the policy.
   */
  versionExpired: 4426,
} as const;

/** The header a node opens its control channel with, naming the version it runs now. */
export const NODE_VERSION_HEADER = 'x-openir-version';

export function channelAuthorization(nodeId: string, credential: string): string {
  return `OpenIR-Node ${nodeId}:${credential}`;
}

export function parseChannelAuthorization(
  header: string | undefined,
): { nodeId: string; credential: string } | null {
  const match = /^OpenIR-Node ([A-Za-z0-9-]+):([A-Za-z0-9_-]+)$/.exec(header ?? '');
  return match ? { nodeId: match[1] as string, credential: match[2] as string } : null;
}
