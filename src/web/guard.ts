import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Who may talk to the headless host: only pages it served itself on loopback,
 * opened through the URL with the token it printed. The Host check defeats
 * DNS rebinding; the Origin check defeats other local pages; the token (then
 * an HttpOnly SameSite=Strict session cookie) defeats other local users.
 */
export const SESSION_COOKIE = 'openir_session';

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };

export class WebGuard {
  readonly token = randomBytes(32).toString('base64url');
  private readonly sessions = new Set<string>();
  private allowedHosts: Set<string> = new Set();
  private allowedOrigins: Set<string> = new Set();

  /** Called once the port is known. */
  bind(port: number): void {
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    this.allowedHosts = new Set(hosts);
    this.allowedOrigins = new Set(hosts.map((h) => `http://${h}`));
  }

  checkHostAndOrigin(host: string | undefined, origin: string | undefined): Verdict {
    if (!host || !this.allowedHosts.has(host.toLowerCase())) {
      return { ok: false, status: 403, reason: 'This OpenIR host answers only on its loopback address.' };
    }
    if (origin !== undefined && !this.allowedOrigins.has(origin.toLowerCase())) {
      return { ok: false, status: 403, reason: 'Requests from other web pages are refused.' };
    }
    return { ok: true };
  }

  isTokenValid(candidate: string | undefined): boolean {
    if (!candidate) return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  isAuthenticated(cookie: string | undefined, authorization: string | undefined): boolean {
    if (cookie && this.sessions.has(cookie)) return true;
    const bearer = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    return this.isTokenValid(bearer);
  }

  /** Exchanges the printed token for a session cookie value. */
  openSession(): string {
    const session = randomBytes(32).toString('base64url');
    this.sessions.add(session);
    return session;
  }
}

export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
