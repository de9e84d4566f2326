import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { OpenIrError } from '../shared/errors';
import { IR_STATUSES, NODE_STATUSES } from '../shared/status';
import type { FactoryRegistry, Principal } from './factories';
import { NodeMetrics, SERIES_MINUTES } from './nodeMetrics';
import type { IrRegistry } from './registry';
import type { ControlPlaneStore, IrRow } from './store';

export const PROMETHEUS_PATH = '/metrics';

// ---- The metrics route's answer (GET /api/v1/admin/irs/{name}/metrics), also what `ir monitor` reads.

const Nullable = z.number().nullable();
export const MetricsPointSchema = z.object({
  minute: z.string(),
  heartbeats: z.number().int(),
  cpuPercent: z.number(),
  memoryUsedBytes: z.number(),
  memoryTotalBytes: z.number(),
  memoryAvailableBytes: Nullable,
  networkSentBytes: Nullable,
  networkReceivedBytes: Nullable,
  networkSentBytesPerSecond: Nullable,
  networkReceivedBytesPerSecond: Nullable,
  runningJobs: z.number().int(),
});
export const LatestSampleSchema = z.object({
  at: z.string(),
  cpuPercent: z.number(),
  memoryUsedBytes: z.number(),
  memoryTotalBytes: z.number(),
  memoryAvailableBytes: Nullable,
  networkSentBytesTotal: Nullable,
  networkReceivedBytesTotal: Nullable,
  networkSentBytesPerSecond: Nullable,
  networkReceivedBytesPerSecond: Nullable,
  runningJobs: z.number().int(),
  jobLimit: z.number().int(),
});
export const IrMetricsSchema = z.object({
  ir: z.string(),
  /** The IR whose nodes these are: the IR itself, or for a linked IR the shared one (read-only). */
  nodesOf: z.string(),
  resolutionSeconds: z.literal(60),
  minutes: z.number().int(),
  heartbeatIntervalMs: z.number().int(),
  jobs: z.object({ running: z.number().int(), queued: z.number().int(), failed: z.number().int() }),
  nodes: z.array(
    z.object({
      nodeId: z.string(),
      name: z.string(),
      status: z.string(),
      latest: LatestSampleSchema.nullable(),
      points: z.array(MetricsPointSchema),
    }),
  ),
});
export type IrMetrics = z.infer<typeof IrMetricsSchema>;
export const MetricsQuerySchema = z
  .object({ minutes: z.coerce.number().int().min(1).max(SERIES_MINUTES).optional() })
  .strict();

export interface MonitoringDeps {
  store: ControlPlaneStore;
  registry: IrRegistry;
  factories: FactoryRegistry;
  metrics: NodeMetrics;
  heartbeatIntervalMs: number;
  /** Whether the server listens on loopback only: then /metrics answers without a token. */
  loopbackOnly: boolean;
  /**
   * The IR whose nodes an IR's metrics show. Hook for linked IRs (issue 17 item 3):
   * a linked IR has no nodes of its own and shows its shared IR's, read-only.
   * Default: the IR itself.
   */
  nodesSourceOf?: (ir: IrRow) => IrRow;
}

type JobCounts = { running: number; queued: number; failed: number };

function jobCountsByIr(store: ControlPlaneStore): Map<string, JobCounts> {
  const counts = new Map<string, JobCounts>();
  for (const row of store.metrics.jobCounts()) {
    const entry = counts.get(row.irId) ?? { running: 0, queued: 0, failed: 0 };
    if (row.state === 'Running' || row.state === 'Dispatched') entry.running += row.count;
    else if (row.state === 'Queued') entry.queued += row.count;
    else if (row.state === 'Failed') entry.failed += row.count;
    counts.set(row.irId, entry);
  }
  return counts;
}

/** The metrics of one IR's nodes over the last `minutes` (default and most: 24 h). */
export function irMetrics(deps: MonitoringDeps, ir: IrRow, minutes = SERIES_MINUTES): IrMetrics {
  const source = deps.nodesSourceOf?.(ir) ?? ir;
  const summary = deps.registry.summaryById(source.id);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    ir: ir.name,
    nodesOf: source.name,
    resolutionSeconds: 60,
    minutes,
    heartbeatIntervalMs: deps.heartbeatIntervalMs,
    // The IR's own jobs: a linked IR's jobs are its factory's, not the shared IR's.
    jobs: jobCountsByIr(deps.store).get(ir.id) ?? { running: 0, queued: 0, failed: 0 },
    nodes: (summary?.nodes ?? []).map((node) => {
      const latest = deps.metrics.latest(node.nodeId);
      return {
        nodeId: node.nodeId,
        name: node.name,
        status: node.status,
        latest: latest ? { ...latest, at: iso(latest.at) } : null,
        points: deps.metrics
          .points(node.nodeId, minutes)
          .map((point) => ({ ...point, minute: iso(point.minute) })),
      };
    }),
  };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

/** Whether `host` (the --host the server binds) accepts connections from this machine only. */
export function isLoopbackHost(host: string): boolean {
  if (LOOPBACK_HOSTS.has(host)) return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * The Prometheus endpoint. Access: a bearer token (the instance-admin token sees
 * every IR, a factory token its own IRs only), or no token at all when the
 * server is bound to loopback (only this machine can reach it then). Bound to
 * any other address, a request without a token is refused with 401
 * UNAUTHORIZED. Each server has its own Registry (not prom-client's global
 * one), so several servers in one process do not share series.
 */
export function registerPrometheus(
  app: FastifyInstance<HttpsServer>,
  deps: MonitoringDeps,
  authenticate: (request: FastifyRequest) => Principal,
  connectedNodeIds: () => readonly string[],
): Registry {
  const registry = new Registry();
  const labels = ['factory', 'ir', 'node'] as const;
  const gauge = (name: string, help: string, labelNames: readonly string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const irStatus = gauge(
    'openir_ir_status',
    'IR status: 1 for the status the IR is in (label status), 0 for the others.',
    ['factory', 'ir', 'status'],
  );
  const nodeStatus = gauge(
    'openir_node_status',
    'Node status: 1 for the status the node is in (label status), 0 for the others.',
    [...labels, 'status'],
  );
  const nodeUp = gauge('openir_node_up', '1 when the node is Online or Limited, else 0.', labels);
  const jobs = gauge('openir_ir_jobs', 'Jobs of the IR by state (running, queued, failed).', [
    'factory',
    'ir',
    'state',
  ]);
  const cpu = gauge('openir_node_cpu_percent', 'CPU use of the node machine at its last heartbeat.', labels);
  const memUsed = gauge('openir_node_memory_used_bytes', 'Memory used on the node machine.', labels);
  const memAvailable = gauge(
    'openir_node_memory_available_bytes',
    'Memory available on the node machine (MemAvailable on Linux).',
    labels,
  );
  const memTotal = gauge('openir_node_memory_total_bytes', 'Memory of the node machine.', labels);
  const sent = gauge(
    'openir_node_network_sent_bytes',
    "The node machine's network bytes sent since boot, all interfaces but loopback (Linux nodes only).",
    labels,
  );
  const received = gauge(
    'openir_node_network_received_bytes',
    "The node machine's network bytes received since boot, all interfaces but loopback (Linux nodes only).",
    labels,
  );
  const running = gauge('openir_node_running_jobs', 'Jobs running on the node.', labels);
  const lag = gauge(
    'openir_node_heartbeat_age_seconds',
    "Seconds since the node's last heartbeat reached this control plane.",
    labels,
  );
  const channels = new Gauge({
    name: 'openir_control_channels',
    help: "Node control channels connected to this control plane (a factory token: its own IRs' nodes only).",
    registers: [registry],
  });

  const refresh = (principal: Principal) => {
    registry.resetMetrics();
    const counts = jobCountsByIr(deps.store);
    const ages = new Map(deps.metrics.heartbeatAges().map((age) => [age.nodeId, age.seconds]));
    const visibleNodes = new Set<string>();
    for (const ir of deps.store.listIrs()) {
      if (principal.factoryId !== null && ir.factoryId !== principal.factoryId) continue;
      const factory = deps.factories.byId(ir.factoryId)?.name ?? ir.factoryId;
      const summary = deps.registry.summaryById(ir.id);
      if (!summary) continue;
      for (const status of IR_STATUSES) {
        irStatus.set({ factory, ir: ir.name, status }, summary.status === status ? 1 : 0);
      }
      const count = counts.get(ir.id) ?? { running: 0, queued: 0, failed: 0 };
      for (const state of ['running', 'queued', 'failed'] as const)
        jobs.set({ factory, ir: ir.name, state }, count[state]);
      for (const node of summary.nodes) {
        visibleNodes.add(node.nodeId);
        const l = { factory, ir: ir.name, node: node.name };
        for (const status of NODE_STATUSES) nodeStatus.set({ ...l, status }, node.status === status ? 1 : 0);
        nodeUp.set(l, node.status === 'Online' || node.status === 'Limited' ? 1 : 0);
        running.set(l, node.runningJobs);
        const latest = deps.metrics.latest(node.nodeId);
        if (latest) {
          cpu.set(l, latest.cpuPercent);
          memUsed.set(l, latest.memoryUsedBytes);
          memTotal.set(l, latest.memoryTotalBytes);
          if (latest.memoryAvailableBytes !== null) memAvailable.set(l, latest.memoryAvailableBytes);
          if (latest.networkSentBytesTotal !== null) sent.set(l, latest.networkSentBytesTotal);
          if (latest.networkReceivedBytesTotal !== null) received.set(l, latest.networkReceivedBytesTotal);
        }
        const age = ages.get(node.nodeId);
        if (age !== undefined) lag.set(l, Math.round(age * 1000) / 1000);
      }
    }
    // A factory learns nothing of other factories' nodes, not even how many are connected.
    const connected = connectedNodeIds();
    channels.set(
      principal.factoryId === null ? connected.length : connected.filter((id) => visibleNodes.has(id)).length,
    );
  };

  app.get(PROMETHEUS_PATH, async (request, reply) => {
    let principal: Principal;
    if (request.headers.authorization === undefined && deps.loopbackOnly) {
      principal = { tokenId: 'loopback', factoryId: null };
    } else if (request.headers.authorization === undefined) {
      throw new OpenIrError(
        'UNAUTHORIZED',
        'The control plane listens beyond loopback, so /metrics needs a bearer token.',
        {
          fix: "Send `Authorization: Bearer <token>`: the instance-admin token (the control plane's admin-token file) or a factory token (its own IRs only). In Prometheus: `authorization: { credentials_file: ... }`.",
        },
      );
    } else principal = authenticate(request);
    refresh(principal);
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
  return registry;
}
