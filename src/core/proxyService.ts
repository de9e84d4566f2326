import dns from 'node:dns/promises';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import { CONTROL_PLANE_PATHS } from '../shared/controlPlaneApi';
import { OpenIrError, toErrorBody } from '../shared/errors';
import type { ProxyInput, ProxySettings, ProxyTestReport, ProxyTestStep, ProxyView } from '../shared/proxy';
import type { ConfigStore } from './config';
import { connectThroughProxy, Connector, openTcp, proxyError, startTls } from './connector';
import type { Redactor, SourceLogger } from './logger';
import { connectionError, endpointTarget } from './endpoint';
import { publicKeyPin } from './pinnedTls';
import { resolveRoute, type ResolvedRoute, type SystemProxyResolver } from './proxyRoute';
import { ViewFeed } from './viewFeed';
import type { SecretVault } from './vault';

export const PROXY_PASSWORD = 'proxy-password';
const STEP_TIMEOUT_MS = 10_000;

export interface ProxyServiceOptions {
  config: ConfigStore;
  vault: SecretVault;
  redactor: Redactor;
  system: SystemProxyResolver;
  log: SourceLogger;
  /** The registered control plane, whose route the view shows and the test tries; null while unregistered. */
  controlPlane: () => { endpoint: string; pin: string } | null;
  /** Pushes `proxyChanged`. */
  push: (view: ProxyView) => void;
  serviceRunning: () => boolean;
  restartService: () => Promise<unknown>;
}

/** The node's HTTP proxy setting: stored, resolved per connection, and testable step by step. */
export class ProxyService {
  private settings: ProxySettings = { mode: 'none' };
  private password: string | null = null;
  private readonly feed: ViewFeed<ProxyView>;

  constructor(private readonly options: ProxyServiceOptions) {
    this.feed = new ViewFeed(
      () => this.view(),
      options.push,
      (error) =>
        options.log.warn('The proxy setting could not be read to tell the UI.', { cause: String(error) }),
    );
  }

  /** Reads the view again (the endpoint changed with the registration) and pushes it if it changed. */
  refresh(): Promise<void> {
    return this.feed.refresh();
  }

  async load(): Promise<void> {
    this.settings = (await this.options.config.load()).proxy;
    this.password =
      this.settings.mode === 'custom' && this.settings.user
        ? await this.options.vault.get(PROXY_PASSWORD)
        : null;
    if (this.password) this.options.redactor.add(this.password);
    await this.refresh();
  }

  /** Connections made with the setting in force now. */
  connector(): Connector {
    return new Connector((target) => resolveRoute(this.settings, this.password, target, this.options.system));
  }

  async view(): Promise<ProxyView> {
    const endpoint = this.options.controlPlane()?.endpoint ?? null;
    let route = null;
    if (endpoint) {
      const resolved = await resolveRoute(
        this.settings,
        this.password,
        new URL(endpoint),
        this.options.system,
      ).catch(() => null);
      route = resolved ? { kind: resolved.kind, proxy: resolved.proxy, reason: resolved.reason } : null;
    }
    return { settings: this.settings, hasPassword: this.password !== null && this.password !== '', route };
  }

  /** `setProxy`: saves the setting and brings it into force. */
  async change(input: ProxyInput): Promise<ProxyView> {
    await this.save(input);
    // As in the reference product, a new proxy takes effect by restarting the host service.
    if (this.options.serviceRunning()) await this.options.restartService();
    return this.view();
  }

  /** Saves the setting: the password to the vault first, then the config; memory changes only once both are saved. */
  async save(input: ProxyInput): Promise<void> {
    const { settings, password } = this.split(input);
    if (password !== undefined) {
      if (password === null || password === '') await this.options.vault.delete(PROXY_PASSWORD);
      else {
        this.options.redactor.add(password);
        await this.options.vault.set(PROXY_PASSWORD, password);
      }
    }
    await this.options.config.update((draft) => {
      draft.proxy = settings;
    });
    this.settings = settings;
    if (password !== undefined) this.password = password || null;
    this.options.log.info(`Proxy setting saved: ${describe(settings)}.`);
    await this.refresh();
  }

  /**
   * Reaches the control plane (the one given, or the registered one) one step
   * at a time and says which step failed and how to fix it.
   */
  async test(
    input: ProxyInput | undefined,
    given: { endpoint: string; pin: string } | undefined,
  ): Promise<ProxyTestReport> {
    const target = given ?? this.options.controlPlane();
    if (!target) {
      throw new OpenIrError('INVALID_INPUT', 'There is no control plane to test against yet.', {
        fix: 'Paste the authentication key first (its endpoint is tested), or register the node.',
      });
    }
    const candidate = input ? this.split(input) : { settings: this.settings, password: undefined };
    const password = candidate.password === undefined ? this.password : candidate.password;
    if (password) this.options.redactor.add(password);
    const steps: ProxyTestStep[] = [];
    const endpoint = target.endpoint;
    const where = endpointTarget(endpoint);
    let route: ResolvedRoute;
    try {
      route = await resolveRoute(candidate.settings, password, new URL(endpoint), this.options.system);
    } catch (error) {
      return {
        ok: false,
        target: endpoint,
        route: { kind: 'direct', proxy: null, reason: 'invalid' },
        steps,
        error: toErrorBody(error),
      };
    }
    const publicRoute = { kind: route.kind, proxy: route.proxy, reason: route.reason };
    const viaProxy = route.kind === 'proxy' && route.proxyHost !== null && route.proxyPort !== null;
    const hopHost = viaProxy ? (route.proxyHost as string) : where.host;
    const hopPort = viaProxy ? (route.proxyPort as number) : where.port;
    const fail = (error: unknown) => ({
      ok: false,
      target: endpoint,
      route: publicRoute,
      steps,
      error: toErrorBody(error),
    });
    const hopError = (error: unknown) =>
      viaProxy ? proxyError(route, error) : connectionError(endpoint, error);

    const step = async <T>(
      name: ProxyTestStep['step'],
      label: string,
      run: () => Promise<T>,
      detail: (value: T) => string,
    ) => {
      const started = performance.now();
      try {
        const value = await run();
        steps.push({ step: name, label, ok: true, ms: elapsed(started), detail: detail(value) });
        return value;
      } catch (error) {
        steps.push({
          step: name,
          label,
          ok: false,
          ms: elapsed(started),
          detail: error instanceof Error ? error.message : String(error),
        });
        throw error;
      }
    };

    let socket: net.Socket | null = null;
    let secure: tls.TLSSocket | null = null;
    try {
      await step(
        'resolve',
        `Resolve ${hopHost}`,
        async () => (net.isIP(hopHost) ? hopHost : (await dns.lookup(hopHost)).address),
        (address) => `${hopHost} is ${address}`,
      ).catch((error: unknown) => {
        throw hopError(error);
      });
      socket = await step(
        'connect',
        viaProxy ? `Connect to the proxy ${route.proxy}` : `Connect to ${where.host}:${where.port}`,
        () => openTcp(hopHost, hopPort, STEP_TIMEOUT_MS),
        () => 'TCP connection open',
      ).catch((error: unknown) => {
        throw hopError(error);
      });
      if (viaProxy) {
        const proxySocket = socket;
        socket = await step(
          'tunnel',
          `Open a tunnel to ${where.host}:${where.port} through the proxy`,
          () => connectThroughProxy(proxySocket, route, where, STEP_TIMEOUT_MS),
          () => `CONNECT accepted${route.authorization ? ' (Basic authentication)' : ''}`,
        );
      }
      const tunnel = socket;
      secure = await step(
        'tls',
        'TLS handshake and key pin check',
        async () => {
          const tlsSocket = await startTls(
            tunnel,
            where,
            { rejectUnauthorized: false },
            STEP_TIMEOUT_MS,
          ).catch((error: unknown) => {
            throw connectionError(endpoint, error);
          });
          const actual = publicKeyPin(tlsSocket.getPeerCertificate().raw);
          if (actual !== target.pin) {
            tlsSocket.destroy();
            throw new OpenIrError(
              'CONTROL_PLANE_TLS_PIN_MISMATCH',
              `The TLS key presented does not match the pin (got ${actual}).`,
              {
                fix: 'A proxy that inspects TLS, or something else, is intercepting the connection. Exempt the control plane from TLS inspection.',
              },
            );
          }
          return tlsSocket;
        },
        (tlsSocket) => `${tlsSocket.getProtocol() ?? 'TLS'}, key matches the pin`,
      );
      const established = secure;
      await step(
        'controlPlane',
        'Control plane answers',
        () => healthCheck(established, endpoint),
        (status) => `HTTP ${status} from ${CONTROL_PLANE_PATHS.health}`,
      );
      return { ok: true, target: endpoint, route: publicRoute, steps, error: null };
    } catch (error) {
      return fail(error);
    } finally {
      secure?.destroy();
      socket?.destroy();
    }
  }

  private split(input: ProxyInput): { settings: ProxySettings; password: string | null | undefined } {
    if (input.mode !== 'custom') return { settings: { mode: input.mode }, password: undefined };
    const { password, ...rest } = input;
    const settings: ProxySettings = rest.user
      ? rest
      : { mode: 'custom', address: rest.address, port: rest.port };
    return { settings, password };
  }
}

function healthCheck(socket: tls.TLSSocket, endpoint: string): Promise<number> {
  const where = endpointTarget(endpoint);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: where.host,
        port: where.port,
        path: CONTROL_PLANE_PATHS.health,
        method: 'GET',
        createConnection: () => socket,
        timeout: STEP_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        if (res.statusCode === 200) resolve(200);
        else
          reject(
            new OpenIrError('CONTROL_PLANE_ERROR', `The control plane answered HTTP ${res.statusCode}.`, {
              fix: 'Check the control plane log.',
            }),
          );
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => reject(connectionError(endpoint, error)));
    req.end();
  });
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export function describe(settings: ProxySettings): string {
  if (settings.mode === 'none') return 'Do not use proxy';
  if (settings.mode === 'system') return 'Use system proxy';
  return `Use custom proxy ${settings.address}:${settings.port}${settings.user ? ` as ${settings.user}` : ''}`;
}
