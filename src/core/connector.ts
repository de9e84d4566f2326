import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { OpenIrError } from '../shared/errors';
import { connectionError, endpointTarget, socketFailureReason, type EndpointTarget } from './endpoint';
import type { ResolvedRoute } from './proxyRoute';

/**
 * Every connection from the node to its control plane goes through here:
 * direct, or tunnelled through the chosen HTTP proxy with CONNECT, then TLS.
 * Registration, the control channel and the connectivity test all use it, so
 * none of them can bypass the proxy setting.
 *
 * The CONNECT is done with node:http rather than undici: undici's connect()
 * drops the status and headers of a refused CONNECT, and the user needs to
 * know a 407 from a 403, and which authentication scheme the proxy asked for.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export function openTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export function proxyError(route: ResolvedRoute, error: unknown): OpenIrError {
  if (error instanceof OpenIrError) return error;
  const why = socketFailureReason(error);
  return new OpenIrError(
    'PROXY_UNREACHABLE',
    `Cannot reach the proxy ${route.proxy} (${route.reason}): ${why}.`,
    {
      fix: 'Check the proxy address and port in the proxy settings, and that the proxy is running and reachable from this machine.',
      cause: error,
    },
  );
}

/** Asks the proxy, over an open socket, for a tunnel to the target; resolves with the tunnel. */
export function connectThroughProxy(
  proxySocket: net.Socket,
  route: ResolvedRoute,
  target: EndpointTarget,
  timeoutMs: number,
): Promise<net.Socket> {
  const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => proxySocket,
      method: 'CONNECT',
      path: authority,
      headers: {
        host: authority,
        ...(route.authorization ? { 'proxy-authorization': route.authorization } : {}),
      },
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(refusal(route, authority, res));
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.once('error', (error) => reject(proxyError(route, error)));
    req.end();
  });
}

function refusal(route: ResolvedRoute, authority: string, res: http.IncomingMessage): OpenIrError {
  const status = `HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
  // 407 is the standard answer; some proxies (tinyproxy) answer 401 to wrong credentials.
  if (res.statusCode === 407 || (res.statusCode === 401 && route.authorization !== null)) {
    const header = res.headers['proxy-authenticate'] ?? res.headers['www-authenticate'];
    const schemes = authSchemes(header);
    if (schemes.length > 0 && !schemes.includes('basic')) {
      const named = schemes.map((s) => SCHEME_NAMES[s] ?? s).join(' or ');
      return new OpenIrError(
        'PROXY_AUTH_UNSUPPORTED',
        `The proxy ${route.proxy} asks for ${named} authentication, which OpenIR does not support yet.`,
        {
          fix: 'Ask the proxy administrator to allow Basic authentication or no authentication for this machine, or run a local authenticating proxy (such as cntlm) and point OpenIR at it.',
        },
      );
    }
    return new OpenIrError(
      'PROXY_AUTH_FAILED',
      route.authorization
        ? `The proxy ${route.proxy} rejected the user name or password (${status}).`
        : `The proxy ${route.proxy} requires a user name and password (${status}).`,
      { fix: 'Enter the right proxy user and password in the proxy settings (they are stored encrypted).' },
    );
  }
  return new OpenIrError(
    'PROXY_REFUSED',
    `The proxy ${route.proxy} refused to open a tunnel to ${authority} (${status}).`,
    {
      fix: `Allow HTTPS (CONNECT) to ${authority} on the proxy, or add the control plane to NO_PROXY / choose "Do not use proxy" if it is reachable directly.`,
    },
  );
}

const SCHEME_NAMES: Record<string, string> = {
  ntlm: 'NTLM',
  negotiate: 'Negotiate (Kerberos)',
  digest: 'Digest',
  basic: 'Basic',
};

/** Scheme names from Proxy-Authenticate, which Node joins with ", " when the proxy sends several. */
function authSchemes(header: string | string[] | undefined): string[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const schemes = text
    .split(',')
    .map((part) => part.trim())
    // Parameters (realm="…", charset=…) follow a scheme after the same commas; skip them.
    .filter((part) => part !== '' && !/^[A-Za-z0-9_-]+\s*=/.test(part))
    .map((part) => (part.split(/\s+/)[0] ?? '').toLowerCase());
  return [...new Set(schemes)];
}

export function startTls(
  socket: net.Socket | null,
  target: EndpointTarget,
  options: tls.ConnectionOptions,
  timeoutMs: number,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      ...options,
      ...(socket ? { socket } : { host: target.host, port: target.port }),
      servername: target.servername,
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(secure);
    });
    secure.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export class Connector {
  constructor(
    private readonly route: (target: URL) => Promise<ResolvedRoute>,
    private readonly timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
  ) {}

  routeFor(endpoint: string): Promise<ResolvedRoute> {
    return this.route(new URL(endpoint));
  }

  /**
   * A TCP connection to the endpoint (a CONNECT tunnel through the proxy when
   * one applies, else direct), with no TLS yet and no error mapping: for data
   * stores, whose callers say in their own words what a failure means.
   */
  async openTunnel(endpoint: string): Promise<net.Socket> {
    const target = endpointTarget(endpoint);
    const route = await this.routeFor(endpoint);
    if (route.kind === 'proxy' && route.proxyHost && route.proxyPort) {
      const proxySocket = await openTcp(route.proxyHost, route.proxyPort, this.timeoutMs).catch(
        (error: unknown) => {
          throw proxyError(route, error);
        },
      );
      return connectThroughProxy(proxySocket, route, target, this.timeoutMs);
    }
    return openTcp(target.host, target.port, this.timeoutMs);
  }

  /** The tunnel of `openTunnel`, then TLS over it; failures unmapped (see openTunnel). */
  async openTlsTunnel(endpoint: string, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    return startTls(await this.openTunnel(endpoint), endpointTarget(endpoint), options, this.timeoutMs);
  }

  /** A TLS connection to the endpoint, through the proxy when one applies. */
  async connectTls(endpoint: string, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    const target = endpointTarget(endpoint);
    const route = await this.routeFor(endpoint);
    let tunnel: net.Socket | null = null;
    if (route.kind === 'proxy' && route.proxyHost && route.proxyPort) {
      const proxySocket = await openTcp(route.proxyHost, route.proxyPort, this.timeoutMs).catch(
        (error: unknown) => {
          throw proxyError(route, error);
        },
      );
      tunnel = await connectThroughProxy(proxySocket, route, target, this.timeoutMs);
    }
    try {
      return await startTls(tunnel, target, options, this.timeoutMs);
    } catch (error) {
      throw connectionError(endpoint, error);
    }
  }

  /** For node:https and ws: `createConnection` that goes through `connectTls`. */
  createConnection(endpoint: string, options: tls.ConnectionOptions) {
    return (_opts: unknown, callback: (error: Error | null, socket: Duplex) => void): undefined => {
      this.connectTls(endpoint, options).then(
        (socket) => callback(null, socket),
        // Node's callback contract passes no socket with an error.
        (error: Error) => callback(error, undefined as unknown as Duplex),
      );
      return undefined;
    };
  }
}
