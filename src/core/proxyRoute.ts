import { matchesNoProxy, type ProxyRoute, type ProxySettings } from '../shared/proxy';
import { OpenIrError } from '../shared/errors';

/** Where traffic to one control plane goes, with what it needs to get there. */
export interface ResolvedRoute extends ProxyRoute {
  proxyHost: string | null;
  proxyPort: number | null;
  /** Value of the Proxy-Authorization header, or null. Never logged. */
  authorization: string | null;
}

/**
 * "Use system proxy": the OS setting where the face can read it (Electron's
 * session.resolveProxy, PAC included), else the environment. Returns an
 * `http://[user:pass@]host:port` URL, or null for a direct connection, and why.
 */
export type SystemProxyResolver = (target: URL) => Promise<{ proxy: string | null; reason: string }>;

/** The environment's HTTPS_PROXY / HTTP_PROXY (either case) and NO_PROXY, as curl reads them. */
export function environmentProxyResolver(env: NodeJS.ProcessEnv = process.env): SystemProxyResolver {
  return async (target) => {
    const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    if (noProxy && matchesNoProxy(noProxy, target.hostname, port))
      return { proxy: null, reason: 'NO_PROXY matches the control plane' };
    for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) {
      const value = env[name]?.trim();
      if (value)
        return {
          proxy: value.includes('://') ? value : `http://${value}`,
          reason: `${name.toUpperCase()} from the environment`,
        };
    }
    return { proxy: null, reason: 'no proxy set in the environment' };
  };
}

function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

export async function resolveRoute(
  settings: ProxySettings,
  password: string | null,
  target: URL,
  system: SystemProxyResolver,
): Promise<ResolvedRoute> {
  if (settings.mode === 'none') {
    return {
      kind: 'direct',
      proxy: null,
      reason: 'Do not use proxy',
      proxyHost: null,
      proxyPort: null,
      authorization: null,
    };
  }
  if (settings.mode === 'custom') {
    return {
      kind: 'proxy',
      proxy: `http://${hostForUrl(settings.address)}:${settings.port}`,
      reason: 'Use custom proxy',
      proxyHost: settings.address,
      proxyPort: settings.port,
      authorization: settings.user ? basicAuthorization(settings.user, password ?? '') : null,
    };
  }
  const found = await system(target);
  if (!found.proxy) {
    return {
      kind: 'direct',
      proxy: null,
      reason: `Use system proxy: ${found.reason}`,
      proxyHost: null,
      proxyPort: null,
      authorization: null,
    };
  }
  let url: URL;
  try {
    url = new URL(found.proxy);
  } catch {
    throw new OpenIrError('PROXY_UNREACHABLE', `The system proxy "${found.proxy}" is not a valid address.`, {
      fix: 'Correct the system proxy setting (HTTPS_PROXY), or choose a custom proxy.',
    });
  }
  if (url.protocol !== 'http:') {
    throw new OpenIrError(
      'PROXY_UNREACHABLE',
      `The system proxy uses ${url.protocol.replace(':', '')}, which OpenIR does not support.`,
      {
        fix: 'Use an HTTP proxy (http://host:port) that supports CONNECT.',
      },
    );
  }
  const user = decodeURIComponent(url.username);
  return {
    kind: 'proxy',
    proxy: `http://${url.host}`,
    reason: `Use system proxy: ${found.reason}`,
    proxyHost: url.hostname.replace(/^\[|\]$/g, ''),
    proxyPort: Number(url.port || 80),
    authorization: user ? basicAuthorization(user, decodeURIComponent(url.password)) : null,
  };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
