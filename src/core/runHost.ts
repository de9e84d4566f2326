import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { removeStaleTempFiles } from './atomicFile';
import { storeFile } from './certificates/store';
import { ConfigStore } from './config';
import { HostService } from './host';
import { startLocalApi } from './localApi';
import { Logger, Redactor } from './logger';
import { SystemMetrics } from './metrics';
import { environmentProxyResolver, type SystemProxyResolver } from './proxyRoute';
import { restrictDataDirectory } from './localEndpoint';
import { dataPaths, machineFqdn, type DataPaths } from './paths';
import { openVault, type SecretVault } from './vault';
import { OPENIR_VERSION } from './version';

export interface RunningHost {
  host: HostService;
  paths: DataPaths;
  logger: Logger;
  /** What the logs blank out: a face adds secrets it reads itself (an unattended start's key). */
  redactor: Redactor;
  close(): Promise<void>;
}

export interface RunHostOptions {
  home: string;
  env?: NodeJS.ProcessEnv;
  /** Echo log lines to stderr (foreground `openir serve`). */
  echo?: boolean;
  /** A stronger vault offered by the face on top (Electron safeStorage). */
  preferredVault?: SecretVault;
  /** "Use system proxy" resolver of the face on top (Electron: the session's, PAC included). */
  systemProxy?: SystemProxyResolver;
  /** Serve the local API socket for the CLI (on by default). */
  localApi?: boolean;
}

/** Composes the runtime host service from its parts; used by `openir serve` and the desktop main process. */
export async function runHost(options: RunHostOptions): Promise<RunningHost> {
  const env = options.env ?? process.env;
  const paths = dataPaths(options.home);
  // OPENIR_GROUP_ACCESS=1 (the Linux service): the host's group may enter the
  // data directory to reach the socket and the web UI file; every file with a
  // secret stays 0600.
  const groupAccess = groupAccessFrom(env);
  await fs.mkdir(paths.home, { recursive: true, mode: groupAccess ? 0o750 : 0o700 });
  if (groupAccess) await fs.chmod(paths.home, 0o750);
  const config = new ConfigStore(paths.config);
  const loaded = await config.load();
  const redactor = new Redactor();
  const logger = new Logger({
    file: paths.logFile,
    level: loaded.logLevel,
    redactor,
    echo: options.echo ?? false,
  });
  // Windows has no mode bits: the data directory (in ProgramData, readable by every user) gets an ACL instead.
  if (process.platform === 'win32') await restrictDataDirectory(paths.home, logger.child('host'));
  const vault = await openVault({
    home: paths.home,
    vaultDir: paths.vaultDir,
    config,
    log: logger.child('vault'),
    preference: env.OPENIR_VAULT,
    preferred: options.preferredVault,
  });
  const host = new HostService({
    dataDir: paths.home,
    fqdn: machineFqdn(env),
    version: reportedVersion(env),
    config,
    vault,
    logger,
    redactor,
    metrics: new SystemMetrics(),
    systemProxy: options.systemProxy ?? environmentProxyResolver(env),
    ...(env.OPENIR_REMOTE_ACCESS_BIND ? { remoteAccessBind: env.OPENIR_REMOTE_ACCESS_BIND } : {}),
    ...(env.OPENIR_ADVERTISE_HOST ? { advertiseHost: env.OPENIR_ADVERTISE_HOST } : {}),
    peerSyncIntervalMs: numberFrom(env.OPENIR_PEER_SYNC_INTERVAL_MS, 30_000),
    reconnectMinMs: numberFrom(env.OPENIR_RECONNECT_MIN_MS, 500),
    reconnectMaxMs: numberFrom(env.OPENIR_RECONNECT_MAX_MS, 30_000),
  });
  // The socket is bound first (it is also the one-host-per-data-directory
  // lock), but it answers only once init() has loaded the settings and the
  // registration: before that, a client would read defaults (no limit, no
  // registration) and act on them.
  let initialized!: () => void;
  let initFailed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    initialized = resolve;
    initFailed = reject;
  });
  ready.catch(() => undefined);
  let api: FastifyInstance | null = null;
  if (options.localApi !== false) {
    api = await startLocalApi(paths, host, logger.child('api'), { groupAccess, ready });
  }
  // Only now, with the data directory ours (the socket above), can a temp file of a dead process be called stale.
  const swept = await removeStaleTempFiles([
    paths.home,
    paths.vaultDir,
    path.dirname(storeFile(paths.home)),
    paths.runDir,
  ]);
  if (swept.length > 0) {
    logger
      .child('host')
      .info('Removed temp files left by writes a crash interrupted.', { files: swept.length });
  }
  logger.child('host').info(`OpenIR host ${OPENIR_VERSION} started.`, {
    dataDir: paths.home,
    vault: vault.backend.id,
    pid: process.pid,
  });
  try {
    await host.init();
  } catch (error) {
    initFailed(error);
    if (api) await api.close();
    throw error;
  }
  initialized();
  return {
    host,
    paths,
    logger,
    redactor,
    close: async () => {
      await host.shutdown();
      if (api) await api.close();
      await fs.rm(paths.pidFile, { force: true });
    },
  };
}

/**
 * The version this node reports: OPENIR_VERSION, unless OPENIR_TEST_REPORTED_VERSION
 * is set. That variable exists for tests only (a real host process playing an
 * older or newer release against the version policy); it changes what the
 * node says it runs, nothing it does.
 */
export function reportedVersion(env: NodeJS.ProcessEnv): string {
  const override = env.OPENIR_TEST_REPORTED_VERSION;
  return override && /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(override) ? override : OPENIR_VERSION;
}

/** OPENIR_GROUP_ACCESS=1: the socket and the web UI file are shared with the host's group. */
export function groupAccessFrom(env: NodeJS.ProcessEnv): boolean {
  return env.OPENIR_GROUP_ACCESS === '1' && process.platform !== 'win32';
}

function numberFrom(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
