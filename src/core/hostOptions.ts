import type { ConfigStore } from './config';
import type { Logger, Redactor } from './logger';
import type { SystemMetrics } from './metrics';
import type { SystemProxyResolver } from './proxyRoute';
import type { SecretVault } from './vault';

/** What a face (the desktop app, `openir serve`) hands in to build the runtime host; see runHost.ts. */
export interface HostServiceOptions {
  dataDir: string;
  fqdn: string;
  version: string;
  config: ConfigStore;
  vault: SecretVault;
  logger: Logger;
  redactor: Redactor;
  metrics: SystemMetrics;
  /** Interface the remote-access listener binds: all by default (it serves the intranet). */
  remoteAccessBind?: string;
  /** The address peers are told to reach this node at, when DNS does not know its FQDN. */
  advertiseHost?: string;
  /** Credential-sync round with the peers (and reachability check); changes are pushed at once. */
  peerSyncIntervalMs?: number;
  /** "Use system proxy": the environment by default; Electron passes the session's resolver. */
  systemProxy?: SystemProxyResolver;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How long `register` waits for the first Online before answering with the current state. */
  registerSettleMs?: number;
  clock?: () => Date;
}
