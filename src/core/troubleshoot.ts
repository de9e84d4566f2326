import { randomUUID } from 'node:crypto';
import dns from 'node:dns/promises';
import fs from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { channelAuthorization, CONTROL_PLANE_PATHS, type IrNodeInfo } from '../shared/controlPlaneApi';
import type { CredentialTestReport } from '../shared/credentialTest';
import type { CredentialView } from '../shared/credentials';
import { OpenIrError, toErrorBody, type ErrorBody } from '../shared/errors';
import { parseJson } from './jsonRequest';
import type { ProxyTestReport } from '../shared/proxy';
import { REMOTE_ACCESS_PATHS } from '../shared/remoteAccess';
import {
  firstFailure,
  type CheckResult,
  type PortResult,
  type PortRow,
  type RunTroubleshootInput,
  type TroubleshootCheck,
  type TroubleshootReport,
  type TroubleshootStep,
} from '../shared/troubleshoot';
import type { Registration } from './config';
import { openTcp, proxyError, startTls, type Connector } from './connector';
import { errorFromResponse, NODE_CREDENTIAL } from './controlPlaneClient';
import { connectionError, endpointTarget, socketFailureReason, type EndpointTarget } from './endpoint';
import type { SourceLogger } from './logger';
import { pinnedTlsOptions, probeControlPlane } from './pinnedTls';
import type { ResolvedRoute } from './proxyRoute';
import type { SecretVault } from './vault';

/** Below this the data directory's disk fails the check: logs, staging and the job history need room. */
export const MIN_FREE_BYTES = 200 * 1024 * 1024;
/**
 * The most this node's clock may differ from the control plane's. Half the
 * peers' sealed-message window (5 min, peerSeal.ts): two nodes that each pass
 * stay within it of each other.
 */
export const MAX_CONTROL_PLANE_SKEW_MS = 2 * 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface TroubleshootLinks {
  dataDir: string;
  fqdn: string;
  version: string;
  vault: SecretVault;
  log: SourceLogger;
  clock: () => Date;
  registration: () => Registration | null;
  /** Connections with the proxy setting in force now. */
  connector: () => Connector;
  /** The proxy test (Settings › Proxy › Test), reused for the proxy step. */
  testProxy: (target: { endpoint: string; pin: string }) => Promise<ProxyTestReport>;
  serviceRunning: () => boolean;
  /** Heartbeat → acknowledgement on the open control channel, in ms. */
  roundTrip: (timeoutMs: number) => Promise<number>;
  irNodes: () => readonly IrNodeInfo[];
  /** The IR's nodes as last listed; used while the channel is down and the live list is empty. */
  lastIrNodes?: () => readonly IrNodeInfo[];
  /** One sealed exchange with a peer (peer sync), its failure thrown. */
  checkPeer: (peer: IrNodeInfo) => Promise<void>;
  /** This node's remote-access listener as advertised: null while disabled. */
  remoteAccess: () => { url: string | null; certSha256: string | null };
  credentials: () => Promise<{ credentials: CredentialView[] }>;
  /** Test connection (CredentialTester). */
  testCredential: (name: string) => Promise<CredentialTestReport>;
  /** Per network step; tests shorten it. */
  timeoutMs?: number;
}

/** What a check returns when it ran: passed with what it saw, or thrown as an error. */
interface Outcome {
  detail?: string;
  steps?: TroubleshootStep[];
  /** A check that ran but found nothing to test (e.g. remote access disabled). */
  skipped?: boolean;
  /** A check whose own steps failed: reported failed with this error. */
  error?: ErrorBody;
}

class Skip extends Error {}

/**
 * The troubleshoot report: ordered checks, each a small function, from the
 * node's own disk out to the control plane, the peers and the data stores.
 * A failed network check skips the ones that depend on it (no TLS without
 * TCP) with a reason, while independent checks (peers, listener, data stores)
 * still run, so one run shows everything that is wrong.
 */
export class TroubleshootService {
  private readonly timeoutMs: number;

  constructor(private readonly links: TroubleshootLinks) {
    this.timeoutMs = links.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async run(input: RunTroubleshootInput = {}): Promise<TroubleshootReport> {
    const started = performance.now();
    const startedAt = this.links.clock().toISOString();
    const registration = this.links.registration();
    const target =
      input.target ?? (registration ? { endpoint: registration.endpoint, pin: registration.pin } : null);
    const checks: TroubleshootCheck[] = [];
    /** Why the next control-plane check cannot run: the label of the failed one it needs. */
    let blockedBy: string | null = null;

    const check = async (
      id: string,
      label: string,
      run: () => Promise<Outcome>,
      options: { chain?: boolean } = {},
    ): Promise<TroubleshootCheck> => {
      if (options.chain && blockedBy) {
        const skipped: TroubleshootCheck = {
          id,
          label,
          result: 'skipped',
          ms: 0,
          detail: `Not run: "${blockedBy}" failed.`,
        };
        checks.push(skipped);
        return skipped;
      }
      const t0 = performance.now();
      let done: TroubleshootCheck;
      try {
        const outcome = await run();
        const result: CheckResult = outcome.error ? 'failed' : outcome.skipped ? 'skipped' : 'passed';
        done = {
          id,
          label,
          result,
          ms: elapsed(t0),
          ...(outcome.detail ? { detail: outcome.detail } : {}),
          ...(outcome.steps ? { steps: outcome.steps } : {}),
          ...(outcome.error ? { error: outcome.error } : {}),
        };
      } catch (error) {
        done =
          error instanceof Skip
            ? { id, label, result: 'skipped', ms: elapsed(t0), detail: error.message }
            : { id, label, result: 'failed', ms: elapsed(t0), error: toErrorBody(error) };
      }
      if (done.result === 'failed' && options.chain) blockedBy = label;
      checks.push(done);
      return done;
    };

    await check('dataDir', 'Data directory writable, free disk space', () => this.dataDir());
    await check('vault', 'Secret store (vault) answers', () => this.vault(registration));
    const route = target ? await this.routeOf(target.endpoint) : null;
    await check('clock', 'Clock against the control plane', () => this.clock(target));
    await check('dns', 'DNS of the control plane host', () => this.dns(target, route), { chain: true });
    await check('tcp', 'TCP connect', () => this.tcp(target, route), { chain: true });
    await check('proxy', 'Proxy, step by step', () => this.proxy(target, route), { chain: true });
    await check('tls', 'TLS with the pin', () => this.tls(target, registration), { chain: true });
    await check('nodeCredential', 'Node credential accepted', () => this.nodeCredential(registration), {
      chain: true,
    });
    await check('channel', 'Control channel round trip', () => this.channel(registration), { chain: true });
    for (const peer of this.peers(registration)) {
      await check(`peer:${peer.name}`, `Peer ${peer.name}: TCP, TLS pin, sealed health`, () =>
        this.peer(peer),
      );
    }
    await check('remoteAccess', "This node's remote-access listener at its advertised address", () =>
      this.ownListener(),
    );
    const { credentials } = await this.links.credentials();
    for (const credential of credentials) {
      await check(`dataStore:${credential.name}`, `Data store ${credential.name} (${credential.type})`, () =>
        this.dataStore(credential.name),
      );
    }

    const ports = await this.ports(target, route, registration, credentials);
    const report: TroubleshootReport = {
      reportVersion: 1,
      startedAt,
      ms: elapsed(started),
      node: {
        name: registration?.nodeName ?? null,
        ir: registration?.irName ?? null,
        fqdn: this.links.fqdn,
        version: this.links.version,
        controlPlane: target?.endpoint ?? null,
      },
      ok: !checks.some((c) => c.result === 'failed') && !ports.some((p) => p.result !== 'open'),
      firstFailure: firstFailure(checks),
      checks,
      ports,
    };
    this.links.log[report.firstFailure ? 'warn' : 'info']('Troubleshoot report run.', {
      failed: checks.filter((c) => c.result === 'failed').map((c) => c.id),
      ...(report.firstFailure ? { code: report.firstFailure.error.code } : {}),
    });
    return report;
  }

  /** Writes, renames and deletes a probe file (what every state write does), and reads the free space. */
  private async dataDir(): Promise<Outcome> {
    const dir = this.links.dataDir;
    const probe = path.join(dir, `.troubleshoot-${randomUUID()}.tmp`);
    try {
      await fs.writeFile(probe, 'openir', { flag: 'wx', mode: 0o600 });
      await fs.rename(probe, `${probe}.done`);
      await fs.unlink(`${probe}.done`);
    } catch (error) {
      await fs.rm(probe, { force: true }).catch(() => undefined);
      throw new OpenIrError(
        'STORAGE_WRITE_FAILED',
        `The data directory ${dir} is not writable: ${(error as Error).message}.`,
        {
          fix: `Give the account that runs OpenIR write access to ${dir} (and check the disk is not read-only).`,
        },
      );
    }
    const stats = await fs.statfs(dir);
    const free = stats.bavail * stats.bsize;
    if (free < MIN_FREE_BYTES) {
      throw new OpenIrError(
        'DISK_SPACE_LOW',
        `Only ${formatBytes(free)} free on the disk of ${dir} (at least ${formatBytes(MIN_FREE_BYTES)} needed).`,
        { fix: 'Free disk space, or move the data directory (OPENIR_HOME) to a larger disk.' },
      );
    }
    return { detail: `${dir} is writable; ${formatBytes(free)} free.` };
  }

  private async vault(registration: Registration | null): Promise<Outcome> {
    const vault = this.links.vault;
    // A read of an entry that does not exist: the backend must answer, and nothing is changed.
    await vault.get('troubleshoot-probe');
    if (registration && !(await vault.get(NODE_CREDENTIAL))) {
      throw new OpenIrError('VAULT_UNAVAILABLE', 'The node credential is missing from the secret store.', {
        fix: 'The secret store was reset; restore the node from a backup or register it again in a new data directory.',
      });
    }
    return {
      detail: `${vault.backend.label} answers${registration ? '; the node credential is there' : ''}.`,
    };
  }

  private async routeOf(endpoint: string): Promise<ResolvedRoute | null> {
    return this.links
      .connector()
      .routeFor(endpoint)
      .catch(() => null);
  }

  /** The control plane's `Date` header against this machine's clock, corrected by half the round trip. */
  private async clock(target: Target | null): Promise<Outcome> {
    if (!target) throw notRegistered();
    let answer: { headers: IncomingHttpHeaders; sentAt: number; ms: number };
    try {
      answer = await this.get(target.endpoint, CONTROL_PLANE_PATHS.health, { rejectUnauthorized: false });
    } catch (error) {
      throw new Skip(
        `Could not read the control plane's clock: ${messageOf(error)} (see the network checks below).`,
      );
    }
    const date = Date.parse(String(answer.headers.date ?? ''));
    if (Number.isNaN(date)) throw new Skip('The control plane sent no Date header.');
    const local = answer.sentAt + answer.ms / 2;
    // The header has whole seconds, rounded down: compare with the middle of its second, and
    // count up to one second of difference as that rounding, not skew.
    const raw = local - (date + 500);
    const skew = Math.abs(raw) <= 1000 ? 0 : raw;
    const words =
      skew === 0
        ? 'within a second'
        : `${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'}`;
    if (Math.abs(skew) > MAX_CONTROL_PLANE_SKEW_MS) {
      throw new OpenIrError(
        'CLOCK_SKEW',
        `This machine's clock is ${words} the control plane's (at most ${MAX_CONTROL_PLANE_SKEW_MS / 1000} s allowed).`,
        {
          fix: 'Synchronise the clock (NTP: timedatectl set-ntp true, or w32tm /resync on Windows) here and on the control plane. Peers refuse sealed messages from clocks more than 5 minutes apart.',
        },
      );
    }
    return {
      detail: `This machine's clock is ${words === 'within a second' ? 'within a second of' : words} the control plane's.`,
    };
  }

  private async dns(target: Target | null, route: ResolvedRoute | null): Promise<Outcome> {
    if (!target) throw notRegistered();
    const { host } = endpointTarget(target.endpoint);
    if (net.isIP(host)) return { detail: `${host} is an IP address; nothing to resolve.` };
    try {
      const addresses = await dns.lookup(host, { all: true });
      return { detail: `${host} is ${addresses.map((a) => a.address).join(', ')}.` };
    } catch (error) {
      // Through a proxy the proxy resolves the name; not resolving it here is normal.
      if (viaProxy(route)) {
        throw new Skip(`${host} does not resolve here; the proxy ${route?.proxy} resolves it.`);
      }
      throw new OpenIrError(
        'CONTROL_PLANE_UNREACHABLE',
        `The control plane host ${host} could not be resolved (${(error as NodeJS.ErrnoException).code ?? messageOf(error)}).`,
        {
          fix: 'Check the DNS settings of this machine, or use a control plane address it can resolve (an IP address or a name in the hosts file).',
        },
      );
    }
  }

  /** The first hop: the control plane itself, or the proxy when one applies. */
  private async tcp(target: Target | null, route: ResolvedRoute | null): Promise<Outcome> {
    if (!target) throw notRegistered();
    const where = endpointTarget(target.endpoint);
    if (route && viaProxy(route)) {
      const socket = await openTcp(
        route.proxyHost as string,
        route.proxyPort as number,
        this.timeoutMs,
      ).catch((error: unknown) => {
        throw proxyError(route, error);
      });
      socket.destroy();
      return { detail: `Connected to the proxy ${route.proxy} (${route.reason}).` };
    }
    const socket = await openTcp(where.host, where.port, this.timeoutMs).catch((error: unknown) => {
      throw connectionError(target.endpoint, error);
    });
    socket.destroy();
    return { detail: `Connected to ${where.host}:${where.port}.` };
  }

  /**
   * The proxy test of Settings › Proxy, reused: its resolve, connect and
   * tunnel steps are this check; its TLS and health steps are the next checks'.
   */
  private async proxy(target: Target | null, route: ResolvedRoute | null): Promise<Outcome> {
    if (!target) throw notRegistered();
    if (!route || !viaProxy(route)) {
      return { detail: `No proxy: the node connects directly (${route?.reason ?? 'no route'}).` };
    }
    const report = await this.links.testProxy(target);
    const proxySteps = report.steps.filter(
      (s) => s.step === 'resolve' || s.step === 'connect' || s.step === 'tunnel',
    );
    const steps = proxySteps.map((s) => ({
      label: s.label,
      result: (s.ok ? 'passed' : 'failed') as CheckResult,
      ms: s.ms,
      detail: s.detail,
    }));
    const failedHere = proxySteps.some((s) => !s.ok);
    if (failedHere && report.error) return { steps, error: report.error };
    return { steps, detail: `A tunnel through ${route.proxy} to the control plane opens (${route.reason}).` };
  }

  private async tls(target: Target | null, registration: Registration | null): Promise<Outcome> {
    if (!target) throw notRegistered();
    const connector = this.links.connector();
    if (registration && registration.endpoint === target.endpoint && registration.pin === target.pin) {
      const socket = await connector.connectTls(
        target.endpoint,
        pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin),
      );
      const protocol = socket.getProtocol();
      socket.destroy();
      return { detail: `${protocol ?? 'TLS'}; the control plane's key matches the pin.` };
    }
    // Before registering (a pasted key): the first-contact check, no CA yet.
    await probeControlPlane(target.endpoint, target.pin, connector);
    return { detail: "The control plane's key matches the pin in the key." };
  }

  private async nodeCredential(registration: Registration | null): Promise<Outcome> {
    if (!registration) throw notRegistered();
    const credential = await this.links.vault.get(NODE_CREDENTIAL);
    if (!credential) throw new Skip('No node credential in the secret store (see the vault check).');
    const answer = await this.get(
      registration.endpoint,
      CONTROL_PLANE_PATHS.nodeSelf,
      pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin),
      { authorization: channelAuthorization(registration.nodeId, credential) },
    );
    if (answer.status === 200) {
      return {
        detail: `The control plane knows this node as ${registration.nodeName} (${registration.nodeId}).`,
      };
    }
    const error = errorFromResponse(answer.status, answer.body);
    if (answer.status === 404 && error.code === 'NOT_FOUND') {
      throw new Skip('This control plane cannot check a node credential (an older version).');
    }
    if (error.code === 'UNAUTHORIZED' || answer.status === 401) {
      throw new OpenIrError(
        'NODE_CREDENTIAL_REJECTED',
        `The control plane does not accept this node's credential (node ${registration.nodeName} was removed, or its IR deleted).`,
        {
          fix: 'Register the node again with a new authentication key (openir register --replace, or Unregister then Register).',
        },
      );
    }
    throw error;
  }

  private async channel(registration: Registration | null): Promise<Outcome> {
    if (!registration) throw notRegistered();
    if (!this.links.serviceRunning()) {
      throw new OpenIrError(
        'SERVICE_STOPPED',
        'The Integration Runtime Host Service is stopped: no control channel.',
        {
          fix: 'Start the service (Home › Start, or openir service start).',
        },
      );
    }
    const ms = await this.links.roundTrip(this.timeoutMs);
    return { detail: `Heartbeat acknowledged in ${ms} ms.` };
  }

  /**
   * The IR's other nodes this node should reach: approved and not Offline.
   * While the channel is down the node knows none; the list last seen is
   * used then, so a control plane outage does not hide the peers' state.
   */
  private peers(registration: Registration | null): IrNodeInfo[] {
    if (!registration) return [];
    const live = this.links.irNodes();
    const nodes = live.length > 0 ? live : (this.links.lastIrNodes?.() ?? []);
    return nodes.filter(
      (n) => n.nodeId !== registration.nodeId && n.approval === 'approved' && n.status !== 'Offline',
    );
  }

  private async peer(peer: IrNodeInfo): Promise<Outcome> {
    if (!peer.remoteAccessUrl) throw new Skip(`${peer.name} advertises no remote-access address.`);
    const url = peer.remoteAccessUrl;
    const where = endpointTarget(url);
    const steps: TroubleshootStep[] = [];
    const unreachable = (why: string): ErrorBody => ({
      code: 'PEERS_UNREACHABLE',
      message: `This node cannot reach peer '${peer.name}' at ${url}: ${why}.`,
      fix: "Open the peer's remote-access port in its firewall and make sure its address resolves from this machine (or have it advertise one that does, --advertise-host).",
    });
    const t0 = performance.now();
    let socket: net.Socket;
    try {
      socket = await openTcp(where.host, where.port, this.timeoutMs);
      steps.push({ label: `TCP ${where.host}:${where.port}`, result: 'passed', ms: elapsed(t0) });
    } catch (error) {
      steps.push({
        label: `TCP ${where.host}:${where.port}`,
        result: 'failed',
        ms: elapsed(t0),
        detail: socketFailureReason(error),
      });
      return { steps, error: unreachable(socketFailureReason(error)) };
    }
    if (url.startsWith('https:')) {
      const t1 = performance.now();
      try {
        const secure = await startTls(socket, where, { rejectUnauthorized: false }, this.timeoutMs);
        const actual = secure.getPeerCertificate().fingerprint256;
        secure.destroy();
        if (actual !== peer.remoteAccessCertSha256) {
          steps.push({ label: 'TLS certificate pin', result: 'failed', ms: elapsed(t1), detail: actual });
          return {
            steps,
            error: {
              code: 'PEER_SYNC_REFUSED',
              message: `Peer '${peer.name}' presented a certificate (${actual}) other than the one it reported to the control plane (${peer.remoteAccessCertSha256 ?? 'none'}).`,
              fix: 'Something between the nodes intercepts TLS, or the peer changed its certificate and has not reconnected yet; check the network path.',
            },
          };
        }
        steps.push({ label: 'TLS certificate pin', result: 'passed', ms: elapsed(t1) });
      } catch (error) {
        steps.push({
          label: 'TLS certificate pin',
          result: 'failed',
          ms: elapsed(t1),
          detail: messageOf(error),
        });
        return { steps, error: unreachable(`TLS failed: ${messageOf(error)}`) };
      }
    } else {
      socket.destroy();
      steps.push({ label: 'TLS certificate pin', result: 'skipped', ms: 0, detail: 'plain HTTP listener' });
    }
    const t2 = performance.now();
    try {
      await this.links.checkPeer(peer);
      steps.push({ label: 'Sealed health (credential sync exchange)', result: 'passed', ms: elapsed(t2) });
    } catch (error) {
      steps.push({
        label: 'Sealed health (credential sync exchange)',
        result: 'failed',
        ms: elapsed(t2),
        detail: messageOf(error),
      });
      const body = toErrorBody(error);
      if (body.code === 'INTERNAL') return { steps, error: unreachable(socketFailureReason(error)) };
      // The peer sync's own refusals carry no fix: say what makes a peer refuse.
      return {
        steps,
        error: body.fix
          ? body
          : {
              ...body,
              fix: "Both nodes must be Online and approved in the same integration runtime and run the same OpenIR version; a node whose control channel is down knows no peers and refuses them. Check the peer's status (ir nodes) and its log.",
            },
      };
    }
    return { steps, detail: `${url} answers.` };
  }

  /** What peers do to reach this node: connect to the advertised address, check the certificate, ask for health. */
  private async ownListener(): Promise<Outcome> {
    const { url, certSha256 } = this.links.remoteAccess();
    if (!url) throw new Skip('Remote access is disabled (not needed with one node).');
    const where = endpointTarget(url);
    const fail = (why: string): OpenIrError =>
      new OpenIrError(
        'REMOTE_ACCESS_UNREACHABLE',
        `This node's remote-access listener is not reachable at ${url}: ${why}.`,
        {
          fix: "Check that the service runs, that the port is open in this machine's firewall, and that the advertised name resolves to this machine (set --advertise-host or the FQDN otherwise).",
        },
      );
    const secure = url.startsWith('https:');
    let status: number;
    try {
      status = await new Promise<number>((resolve, reject) => {
        const req = (secure ? https : http).request(
          {
            host: where.host,
            port: where.port,
            path: REMOTE_ACCESS_PATHS.health,
            method: 'GET',
            timeout: this.timeoutMs,
            ...(secure
              ? {
                  rejectUnauthorized: false,
                  ...(where.servername ? { servername: where.servername } : {}),
                  checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
                    certSha256 && cert.fingerprint256 !== certSha256
                      ? new Error(`it presented another certificate (${cert.fingerprint256}) than its own`)
                      : undefined,
                }
              : {}),
          },
          (res: http.IncomingMessage) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
        req.on('error', reject);
        req.end();
      });
    } catch (error) {
      throw fail((error as NodeJS.ErrnoException).code ? socketFailureReason(error) : messageOf(error));
    }
    if (status !== 200) throw fail(`it answered HTTP ${status}`);
    return { detail: `${url} answers${secure ? ' with its own certificate' : ''}.` };
  }

  private async dataStore(name: string): Promise<Outcome> {
    const report = await this.links.testCredential(name);
    const steps = report.steps.map((s) => ({
      label: s.label,
      result: s.result,
      ms: s.ms,
      ...(s.detail ? { detail: s.detail } : s.error ? { detail: s.error.message } : {}),
    }));
    if (!report.ok) {
      return {
        steps,
        error: report.failure ?? { code: 'INTERNAL', message: `Test connection of ${name} failed.` },
      };
    }
    return { steps, detail: 'Test connection passed.' };
  }

  /** The ports table: every address this node must reach and the port it serves, each probed on its own. */
  private async ports(
    target: Target | null,
    route: ResolvedRoute | null,
    registration: Registration | null,
    credentials: CredentialView[],
  ): Promise<PortRow[]> {
    const probes: Promise<PortRow>[] = [];
    if (target) {
      const where = endpointTarget(target.endpoint);
      probes.push(
        this.probe('reach', 'Control plane', where, {
          tls: true,
          endpoint: viaProxy(route) ? target.endpoint : null,
        }),
      );
    }
    for (const peer of this.peers(registration)) {
      if (!peer.remoteAccessUrl) continue;
      probes.push(
        this.probe('reach', `Peer ${peer.name} (remote access)`, endpointTarget(peer.remoteAccessUrl), {
          tls: peer.remoteAccessUrl.startsWith('https:'),
          endpoint: null,
        }),
      );
    }
    for (const credential of credentials) {
      const address = dataStoreAddress(credential);
      if (!address) continue;
      const routed = address.proxied && (await this.routeOf(address.url));
      probes.push(
        this.probe(
          'reach',
          `Data store ${credential.name} (${credential.type})`,
          endpointTarget(address.url),
          {
            tls: address.tls,
            endpoint: routed && viaProxy(routed) ? address.url : null,
          },
        ),
      );
    }
    const own = this.links.remoteAccess().url;
    if (own) {
      probes.push(
        this.probe('serve', 'This node (remote access)', endpointTarget(own), {
          tls: own.startsWith('https:'),
          endpoint: null,
        }),
      );
    }
    return Promise.all(probes);
  }

  /** One row: TCP (direct, or a CONNECT tunnel when `endpoint` goes through the proxy), then a TLS handshake if the port speaks TLS. */
  private async probe(
    direction: PortRow['direction'],
    purpose: string,
    where: EndpointTarget,
    options: { tls: boolean; endpoint: string | null },
  ): Promise<PortRow> {
    const t0 = performance.now();
    const row = (result: PortResult, detail?: string): PortRow => ({
      direction,
      purpose,
      host: where.host,
      port: where.port,
      tls: options.tls,
      viaProxy: options.endpoint !== null,
      result,
      ms: elapsed(t0),
      ...(detail ? { detail } : {}),
    });
    let socket: net.Socket;
    try {
      socket = options.endpoint
        ? await this.links.connector().openTunnel(options.endpoint)
        : await openTcp(where.host, where.port, this.timeoutMs);
    } catch (error) {
      return row(portResultOf(error), messageOf(error));
    }
    if (!options.tls) {
      socket.destroy();
      return row('open');
    }
    try {
      const secure = await startTls(socket, where, { rejectUnauthorized: false }, this.timeoutMs);
      const protocol = secure.getProtocol();
      secure.destroy();
      return row('open', protocol ?? undefined);
    } catch (error) {
      socket.destroy();
      return row(
        (error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? 'timedOut' : 'tlsFailed',
        messageOf(error),
      );
    }
  }

  /** One GET to the control plane through the connector (proxy or direct), with its headers and timing. */
  private get(
    endpoint: string,
    urlPath: string,
    tlsOptions: tls.ConnectionOptions,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: unknown; sentAt: number; ms: number }> {
    const where = endpointTarget(endpoint);
    const sentAt = this.links.clock().getTime();
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: where.host,
          port: where.port,
          path: urlPath,
          method: 'GET',
          headers,
          timeout: this.timeoutMs,
          createConnection: this.links.connector().createConnection(endpoint, tlsOptions),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: parseJson(Buffer.concat(chunks)),
              sentAt,
              ms: performance.now() - t0,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (error) => reject(connectionError(endpoint, error)));
      req.end();
    });
  }
}

type Target = { endpoint: string; pin: string };

function viaProxy(route: ResolvedRoute | null): boolean {
  return route !== null && route.kind === 'proxy' && route.proxyHost !== null && route.proxyPort !== null;
}

function notRegistered(): Skip {
  return new Skip(
    'Not registered: no control plane to check (register first, or run it from the Register page).',
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

function portResultOf(error: unknown): PortResult {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timedOut';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unresolved';
  return 'error';
}

/** Where a data store credential connects, if it connects anywhere; HTTPS stores follow the proxy like their jobs. */
export function dataStoreAddress(
  credential: CredentialView,
): { url: string; tls: boolean; proxied: boolean } | null {
  switch (credential.type) {
    case 'postgresql':
    case 'mysql':
    case 'sftp':
      return { url: `tcp://${hostForUrl(credential.host)}:${credential.port}`, tls: false, proxied: false };
    case 'http':
      return urlAddress(credential.baseUrl);
    case 'azureBlob':
      return urlAddress(credential.accountUrl);
    default:
      return null;
  }
}

function urlAddress(value: string): { url: string; tls: boolean; proxied: boolean } | null {
  try {
    const url = new URL(value);
    const secure = url.protocol === 'https:';
    const port = url.port || (secure ? '443' : '80');
    return { url: `${url.protocol}//${url.hostname}:${port}`, tls: secure, proxied: secure };
  } catch {
    return null;
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
