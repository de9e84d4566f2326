import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import {
  CONTROL_PLANE_PATHS,
  KeyCheckRequestSchema,
  RegisterRequestSchema,
  type RegisterResponse,
} from '../shared/controlPlaneApi';
import { OpenIrError, httpStatusFor, isOpenIrError, toErrorBody, type ErrorBody } from '../shared/errors';
import { ADMIN_API_PREFIX, registerAdminApi } from './adminApi';
import type { AdminSession } from './admin';
import { ChannelHub } from './channel';
import { FactoryRegistry } from './factories';
import { registerDiagnosticsRoute } from './diagnostics';
import { JobDispatcher } from './dispatcher';
import { DEFAULT_STAGING_MAX_BYTES, DEFAULT_STAGING_RETENTION_MS, registerStagingRoute } from './staging';
import { syncKeyFingerprint } from './syncKey';
import { listenForWake, type WakeListener } from './wake';
import { systemClock, type Clock } from './clock';
import { formatDuration, formatElapsed } from './duration';
import { defaultPublicEndpoint, normalizePublicEndpoint } from './endpoint';
import { localApiUrl, removeLocalApiRecord, writeLocalApiRecord } from './localApi';
import { silentLogger, type Logger } from './log';
import { dbPath, ensureDataDir } from './paths';
import { IrRegistry } from './registry';
import { irMetrics, isLoopbackHost, registerPrometheus, type MonitoringDeps } from './monitoring';
import { MINUTE_MS, NodeMetrics } from './nodeMetrics';
import { ControlPlaneStore } from './store';
import { acquireServeLock, type ServeLock } from './serveLock';
import { loadOrCreateTls, type TlsMaterial } from './tls';

export const DEFAULT_PORT = 8443;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15_000;
/** How often IRs with `--expire-offline-after` are checked for nodes Offline too long. */
export const DEFAULT_EXPIRY_SWEEP_MS = 60_000;
const BODY_LIMIT_BYTES = 64 * 1024;

export interface ControlPlaneOptions {
  dataDir: string;
  /** 0 binds any free port; read the bound one from `port`. */
  port?: number;
  host?: string;
  certFile?: string;
  keyFile?: string;
  /** What auth keys point nodes to; defaults to https://<host>:<bound port>. */
  publicEndpoint?: string;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** Period of the expiry sweep; tests shorten it (OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS, test-only). */
  expirySweepMs?: number;
  /** Most bytes one job may stage; null for no limit (default 50 GiB). */
  stagingMaxBytes?: number | null;
  /** How long finished jobs' staged outputs are kept; null keeps them (default 7 days). */
  stagingRetentionMs?: number | null;
  clock?: Clock;
  log?: Logger;
}

/** The reference control plane: HTTPS registration API and WebSocket control channels over one port. */
export class ControlPlaneServer {
  private closed: Promise<void> | undefined;

  /** Every admin API route Fastify registered (`GET /api/v1/admin/irs/:name`): what the OpenAPI test checks. */
  readonly adminRoutes: string[] = [];

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly endpoint: string,
    readonly tls: TlsMaterial,
    private readonly app: FastifyInstance<HttpsServer>,
    private readonly hub: ChannelHub,
    private readonly dispatcher: JobDispatcher,
    private readonly wake: WakeListener,
    private readonly store: ControlPlaneStore,
    private readonly lock: ServeLock,
    private readonly log: Logger,
    private readonly sweep: NodeJS.Timeout,
    private readonly metrics: NodeMetrics,
    private readonly metricsTick: NodeJS.Timeout,
  ) {}

  get pin(): string {
    return this.tls.pin;
  }

  static async start(options: ControlPlaneOptions): Promise<ControlPlaneServer> {
    const settings = resolveSettings(options);
    ensureDataDir(settings.dataDir);
    const lock = acquireServeLock(settings.dataDir);
    try {
      return await ControlPlaneServer.startLocked(settings, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private static async startLocked(settings: Settings, lock: ServeLock): Promise<ControlPlaneServer> {
    const { clock, log, host, heartbeatIntervalMs, heartbeatTimeoutMs } = settings;
    const tls = loadOrCreateTls({
      dataDir: settings.dataDir,
      certFile: settings.certFile,
      keyFile: settings.keyFile,
      hostnames: ['localhost', '127.0.0.1', '::1', hostname()],
      now: new Date(clock.nowMs()),
    });
    if (tls.source === 'generated')
      log.info(`Generated a self-signed TLS certificate in ${settings.dataDir}`);

    const store = ControlPlaneStore.open(dbPath(settings.dataDir), clock);
    let hub: ChannelHub | undefined;
    let dispatcher: JobDispatcher | undefined;
    let wake: WakeListener | undefined;
    let app: FastifyInstance<HttpsServer> | undefined;
    try {
      store.markAllDisconnected();
      const registry = new IrRegistry({ store, clock, heartbeatTimeoutMs });
      // Monitoring: per-node 1-minute series, reloaded from the last 24 h on disk.
      const nodeMetrics = new NodeMetrics(store.metrics, () => clock.nowMs());
      hub = new ChannelHub({
        store,
        clock,
        log,
        heartbeatIntervalMs,
        heartbeatTimeoutMs,
        authenticate: (nodeId, credential) => registry.authenticateNode(nodeId, credential),
        summarize: (irId) => registry.summaryById(irId),
        versionPolicy: () => store.getVersionPolicy(),
        checkVersion: (version) => registry.checkVersion(version),
        jobs: () => dispatcher,
        onHeartbeat: (nodeId, irId, heartbeat) => nodeMetrics.record(nodeId, irId, heartbeat),
      });
      const channels = hub;
      dispatcher = new JobDispatcher({
        store,
        clock,
        log,
        heartbeatTimeoutMs,
        link: {
          readyNodes: (irId) => channels.readyNodes(irId),
          isConnected: (nodeId) => channels.isConnected(nodeId),
          send: (nodeId, message) => channels.sendTo(nodeId, message),
        },
      });
      const channelHub = hub;
      const expire = (irId?: string) => expireOfflineNodes(registry, channelHub, log, irId);
      const adminRoutes: string[] = [];
      app = buildApp({ tls, log, registry, hub, heartbeatIntervalMs, heartbeatTimeoutMs, expire });
      app.addHook('onRoute', (route) => {
        if (route.url.startsWith(ADMIN_API_PREFIX)) {
          for (const method of [route.method].flat())
            if (method !== 'HEAD') adminRoutes.push(`${method} ${route.url}`);
        }
      });
      const factories = new FactoryRegistry(store.factories, clock, (work) => store.exclusive(work));
      // Auth keys carry the endpoint, known once the port is bound: filled in after listen.
      const keyContext = { endpoint: '', pin: tls.pin };
      const adminSession: AdminSession = {
        registry,
        factories,
        store,
        dataDir: settings.dataDir,
        clock,
        keyContext,
        close: () => {},
      };
      const jobsToWake = dispatcher;
      const monitoring: MonitoringDeps = {
        store,
        registry,
        factories,
        metrics: nodeMetrics,
        heartbeatIntervalMs,
        loopbackOnly: isLoopbackHost(host),
        // A linked IR shows its shared IR's nodes (read-only), while the grant stands.
        nodesSourceOf: (ir) => {
          const link = store.shares.linkOf(ir.id);
          const shared = link ? store.findIrById(link.sharedIrId) : null;
          return shared && store.shares.isGranted(shared.id, ir.factoryId) ? shared : ir;
        },
      };
      const authenticate = registerAdminApi(app, {
        session: adminSession,
        wakeJobs: () => jobsToWake.wake(),
        // A drain or a new version policy is told to the connected nodes now.
        wakeChannels: () => channelHub.wake(),
        irChanged: (irId) => channelHub.irChanged(irId),
        nowMs: () => clock.nowMs(),
        irMetrics: (ir, minutes) => irMetrics(monitoring, ir, minutes),
      });
      registerPrometheus(app, monitoring, authenticate, () => channelHub.connectedNodeIds);
      const staging = registerStagingRoute(app, {
        dataDir: settings.dataDir,
        store,
        registry,
        log,
        clock,
        maxBytes: settings.stagingMaxBytes,
        retentionMs: settings.stagingRetentionMs,
      });
      registerDiagnosticsRoute(app, { dataDir: settings.dataDir, registry, store, log, clock });
      app.server.on('upgrade', (request, socket, head) => channels.handleUpgrade(request, socket, head));
      await listen(app, settings.port, host);
      const port = (app.server.address() as AddressInfo).port;
      const endpoint = settings.publicEndpoint ?? defaultPublicEndpoint(host, port);
      store.saveServiceIdentity({ endpoint, pin: tls.pin, heartbeatIntervalMs, heartbeatTimeoutMs });
      keyContext.endpoint = endpoint;
      const adminToken = factories.ensureInstanceAdminToken(settings.dataDir);
      if (adminToken.created)
        log.info(`Wrote the instance-admin API token to ${adminToken.file} (owner-only)`);
      // The admin CLI on this machine finds the API here (it never opens the database).
      writeLocalApiRecord(settings.dataDir, {
        url: localApiUrl(host, port),
        pin: tls.pin,
        certPem: tls.certPem,
        pid: process.pid,
      });
      const jobs = dispatcher;
      wake = await listenForWake(settings.dataDir, () => {
        channels.wake();
        jobs.wake();
      });
      // Jobs of nodes that do not come back after a restart are re-queued after the heartbeat timeout.
      dispatcher.recover();
      const expireStaged = () =>
        void staging
          .expire()
          .catch((error: Error) => log.warn(`Staging retention sweep failed: ${error.message}`));
      expireStaged();
      const sweep = setInterval(() => {
        expire();
        expireStaged();
      }, settings.expirySweepMs);
      sweep.unref();
      // Closes the minutes of nodes gone quiet and prunes rows past 24 h.
      const metricsTick = setInterval(() => nodeMetrics.tick(), MINUTE_MS);
      metricsTick.unref();
      log.info(`Listening on ${host}:${port}; nodes reach it at ${endpoint}`);
      const server = new ControlPlaneServer(
        settings.dataDir,
        port,
        endpoint,
        tls,
        app,
        hub,
        dispatcher,
        wake,
        store,
        lock,
        log,
        sweep,
        nodeMetrics,
        metricsTick,
      );
      server.adminRoutes.push(...adminRoutes);
      return server;
    } catch (error) {
      await wake?.close();
      dispatcher?.close();
      await hub?.close();
      await app?.close();
      store.close();
      throw error;
    }
  }

  /** Closes the channels first (nodes see 1001 and retry elsewhere), then HTTP, then the database. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.sweep);
      clearInterval(this.metricsTick);
      await this.wake.close();
      await this.hub.close();
      this.dispatcher.close();
      await this.app.close();
      // The minutes in progress, so a restart keeps them.
      try {
        this.metrics.flush();
      } catch (error) {
        this.log.warn(`Saving the metrics of the current minute failed: ${(error as Error).message}`);
      }
      this.store.close();
      removeLocalApiRecord(this.dataDir);
      this.lock.release();
      this.log.info('Control plane stopped');
    })();
    return this.closed;
  }
}

type Settings = Required<Pick<ControlPlaneOptions, 'dataDir' | 'port' | 'host' | 'clock' | 'log'>> &
  Pick<ControlPlaneOptions, 'certFile' | 'keyFile' | 'publicEndpoint'> & {
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    expirySweepMs: number;
    stagingMaxBytes: number | null;
    stagingRetentionMs: number | null;
  };

/** Defaults filled in and everything checked before anything touches the data dir. */
function resolveSettings(options: ControlPlaneOptions): Settings {
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  checkTimings(heartbeatIntervalMs, heartbeatTimeoutMs);
  return {
    dataDir: options.dataDir,
    port: options.port ?? DEFAULT_PORT,
    host: options.host ?? DEFAULT_HOST,
    clock: options.clock ?? systemClock,
    log: options.log ?? silentLogger,
    certFile: options.certFile,
    keyFile: options.keyFile,
    publicEndpoint: options.publicEndpoint ? normalizePublicEndpoint(options.publicEndpoint) : undefined,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    expirySweepMs: options.expirySweepMs ?? DEFAULT_EXPIRY_SWEEP_MS,
    stagingMaxBytes:
      options.stagingMaxBytes === undefined ? DEFAULT_STAGING_MAX_BYTES : options.stagingMaxBytes,
    stagingRetentionMs:
      options.stagingRetentionMs === undefined ? DEFAULT_STAGING_RETENTION_MS : options.stagingRetentionMs,
  };
}

/** The sweep (and each registration, for its IR): removes expired nodes, logs each and tells the IR's nodes. */
function expireOfflineNodes(registry: IrRegistry, hub: ChannelHub, log: Logger, irId?: string): void {
  try {
    const expired = registry.expireOffline(irId);
    for (const node of expired) {
      log.info(
        `Removed node '${node.nodeName}' (${node.nodeId}) from '${node.irName}': Offline for ${formatElapsed(node.offlineForMs)}, longer than its expire-offline-after of ${formatDuration(node.expireOfflineAfterMs)}; its slot is free`,
      );
    }
    for (const changed of new Set(expired.map((node) => node.irId))) hub.irChanged(changed);
  } catch (error) {
    log.error(`Expiring Offline nodes failed: ${(error as Error).message}`);
  }
}

interface AppDeps {
  tls: TlsMaterial;
  log: Logger;
  registry: IrRegistry;
  hub: ChannelHub;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Removes the IR's expired nodes first, so a slot they held is free for this registration. */
  expire: (irId: string) => void;
}

function buildApp(deps: AppDeps): FastifyInstance<HttpsServer> {
  const app = Fastify({
    https: { key: deps.tls.keyPem, cert: deps.tls.certPem },
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Idle keep-alive sockets would otherwise hold close() open.
    forceCloseConnections: true,
  });

  // One line per request; the path only, never headers or bodies (the register body carries a key secret).
  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0];
    deps.log.info(
      `${request.ip} ${request.method} ${path} ${reply.statusCode} ${Math.round(reply.elapsedTime)}ms`,
    );
  });

  app.setErrorHandler(async (error: FastifyError | OpenIrError, request, reply) => {
    const body = errorBodyFor(error);
    if (body.code === 'INTERNAL')
      deps.log.error(`${request.method} ${request.url.split('?')[0]} failed: ${error.message}`);
    else
      deps.log.warn(`${request.method} ${request.url.split('?')[0]} refused: ${body.code}: ${body.message}`);
    return reply.status(httpStatusFor(body.code)).send({ error: body });
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `No endpoint ${request.method} ${request.url.split('?')[0]}.`,
      },
    }),
  );

  app.get(CONTROL_PLANE_PATHS.health, async () => ({ status: 'ok' }));

  app.post(CONTROL_PLANE_PATHS.register, async (request): Promise<RegisterResponse> => {
    const parsed = RegisterRequestSchema.safeParse(request.body);
    if (!parsed.success) {
      const details = parsed.error.issues
        .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
        .join('; ');
      throw new OpenIrError('INVALID_INPUT', `The registration request is not valid (${details}).`, {
        fix: 'Send irId, secret, nodeName, fqdn, version and platform as JSON.',
      });
    }
    deps.expire(parsed.data.irId);
    const registered = deps.registry.register(parsed.data);
    if (registered.replaced) {
      deps.log.info(
        `Replaced node '${registered.replaced.name}' (${registered.replaced.id}) in '${registered.ir.name}' at its re-registration (replace requested)`,
      );
    }
    deps.log.info(
      registered.approval === 'pending'
        ? `Registered node '${registered.nodeName}' (${registered.nodeId}) in '${registered.ir.name}'; it waits for approval: openir-control-plane ir approve ${registered.ir.name} ${registered.nodeName} --fingerprint ${parsed.data.peerKey ? syncKeyFingerprint(parsed.data.peerKey) : '<from the node>'}`
        : `Registered node '${registered.nodeName}' (${registered.nodeId}) in '${registered.ir.name}'`,
    );
    deps.hub.irChanged(registered.ir.id);
    return {
      irId: registered.ir.id,
      irName: registered.ir.name,
      nodeId: registered.nodeId,
      nodeName: registered.nodeName,
      nodeCredential: registered.nodeCredential,
      heartbeatIntervalMs: deps.heartbeatIntervalMs,
      heartbeatTimeoutMs: deps.heartbeatTimeoutMs,
      replacedNodeId: registered.replaced?.id ?? null,
      approval: registered.approval,
    };
  });

  // A node about to give up its registration for this key asks first whether the key is good.
  app.post(CONTROL_PLANE_PATHS.keyCheck, async (request) => {
    const parsed = KeyCheckRequestSchema.safeParse(request.body);
    if (!parsed.success) {
      throw new OpenIrError('INVALID_INPUT', 'The key check request is not valid.', {
        fix: 'Send irId and secret as JSON.',
      });
    }
    const ir = deps.registry.checkKey(parsed.data.irId, parsed.data.secret);
    return { irId: ir.id, irName: ir.name };
  });

  // The troubleshoot report's "node credential accepted": authenticated as the node, changes nothing.
  app.get(CONTROL_PLANE_PATHS.nodeSelf, async (request) => {
    const node = deps.registry.nodeFromAuthorization(request.headers.authorization);
    return { nodeId: node.id, nodeName: node.name, irId: node.irId };
  });

  // A node unregistering itself: authenticated as the node, then the same removal as `ir remove-node`.
  app.delete(CONTROL_PLANE_PATHS.nodeSelf, async (request) => {
    const node = deps.registry.nodeFromAuthorization(request.headers.authorization);
    const removed = deps.registry.removeOwnNode(node);
    deps.log.info(`Node '${removed.nodeName}' (${removed.nodeId}) removed itself from '${removed.name}'`);
    deps.hub.irChanged(removed.irId);
    return removed;
  });

  return app;
}

/** Fastify's own 4xx errors (bad JSON, wrong content type, body too large) are the client's input problem. */
function errorBodyFor(error: FastifyError | OpenIrError): ErrorBody {
  if (isOpenIrError(error)) return error.toBody();
  const status = 'statusCode' in error ? error.statusCode : undefined;
  if (status !== undefined && status >= 400 && status < 500) {
    return { code: 'INVALID_INPUT', message: `The request was refused: ${error.message}` };
  }
  return toErrorBody(error);
}

function checkTimings(intervalMs: number, timeoutMs: number): void {
  const valid =
    Number.isInteger(intervalMs) && Number.isInteger(timeoutMs) && intervalMs > 0 && timeoutMs > intervalMs;
  if (!valid) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `The heartbeat timeout (${timeoutMs} ms) must be a whole number larger than the heartbeat interval (${intervalMs} ms).`,
      {
        fix: 'Keep the timeout about three intervals, e.g. --heartbeat-interval-ms 5000 --heartbeat-timeout-ms 15000.',
      },
    );
  }
}

async function listen(app: FastifyInstance<HttpsServer>, port: number, host: string): Promise<void> {
  try {
    await app.listen({ port, host });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const why =
        code === 'EADDRINUSE'
          ? 'is already in use'
          : code === 'EACCES'
            ? 'needs more privileges'
            : 'is not on this machine';
      throw new OpenIrError('CONTROL_PLANE_BUSY', `Cannot listen on ${host}:${port}: the address ${why}.`, {
        fix: 'Choose another --port or --host.',
        cause,
      });
    }
    throw cause;
  }
}
