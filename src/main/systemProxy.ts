import type { Session } from 'electron';
import type { SystemProxyResolver } from '../core/proxyRoute';

/**
 * Chromium's answer for a URL ("PROXY h:p; DIRECT", PAC included) turned into
 * what the core needs. Only HTTP proxies can tunnel our TLS; SOCKS is named as
 * unsupported rather than silently bypassed.
 */
export function parseChromiumProxy(answer: string): { proxy: string | null; reason: string } {
  const first =
    answer
      .split(';')
      .map((part) => part.trim())
      .find(Boolean) ?? 'DIRECT';
  const [kind, hostPort] = first.split(/\s+/);
  switch ((kind ?? '').toUpperCase()) {
    case 'PROXY':
    case 'HTTP':
      return { proxy: `http://${hostPort}`, reason: `the OS proxy settings (${first})` };
    case 'DIRECT':
      return { proxy: null, reason: 'the OS proxy settings say DIRECT' };
    default:
      return {
        proxy: null,
        reason: `the OS proxy is ${kind}, which OpenIR cannot tunnel through; connecting directly`,
      };
  }
}

export function electronProxyResolver(session: Pick<Session, 'resolveProxy'>): SystemProxyResolver {
  return async (target) => parseChromiumProxy(await session.resolveProxy(target.toString()));
}
