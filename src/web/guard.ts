import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Who may talk to the headless host: only pages it served itself on loopback,
 * opened through the URL with the token it printed. The Host check defeats
 * DNS rebinding; the Origin check defeats other local pages; the token (then
 * an HttpOnly SameSite=Strict session cookie) defeats other local users.
 *
 * Browsers send a cookie for 127.0.0.1 to every port of 127.0.0.1, so another
 * local program on another port could see ours. The cookie is therefore named
 * after our port (two hosts never overwrite each other's), lives only as long
 * as the idle timeout (renewed while used), and is only worth something while
 * its session is alive here: sessions expire when idle, after an absolute
 * lifetime, and when more than `maxSessions` exist (the least recently used
 * goes). The printed token opens one session, once.
 */
export const SESSION_COOKIE_PREFIX = 'openir_session_';

export function sessionCookieName(port: number): string {
  return `${SESSION_COOKIE_PREFIX}${port}`;
}

export interface SessionLimits {
  /** A session unused this long is gone (its cookie's Max-Age too). */
  idleMs: number;
  /** A session is gone this long after sign-in, used or not. */
  maxAgeMs: number;
  /** At most this many sessions; signing in past it ends the least recently used. */
  maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 30 * 60_000,
  maxAgeMs: 12 * 60 * 60_000,
  maxSessions: 8,
};

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };

interface Session {
  createdAt: number;
  lastUsedAt: number;
}

export class WebGuard {
  readonly token = randomBytes(32).toString('base64url');
  private tokenUsed = false;
  /** In insertion order of last use: the first entry is the least recently used. */
  private readonly sessions = new Map<string, Session>();
  private readonly endListeners = new Set<(session: string) => void>();
  private allowedHosts: Set<string> = new Set();
  private allowedOrigins: Set<string> = new Set();

  constructor(
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

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

  /**
   * True the first time the printed token is given, false ever after: a URL
   * left in a terminal's scrollback, a shell history or a screenshot opens
   * nothing once it was used. Later sign-ins go through `openir ui-url`.
   */
  redeemPrintedToken(candidate: string | undefined): boolean {
    if (!candidate || this.tokenUsed) return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
    this.tokenUsed = true;
    return true;
  }

  /** True for a live session, which counts as used now. */
  useSession(session: string | undefined): boolean {
    if (!session) return false;
    this.expire();
    const found = this.sessions.get(session);
    if (!found) return false;
    found.lastUsedAt = this.now();
    // Re-inserted so the map stays ordered by last use.
    this.sessions.delete(session);
    this.sessions.set(session, found);
    return true;
  }

  /** True while the session lives, without counting as a use (an open event socket is not activity). */
  isAlive(session: string): boolean {
    this.expire();
    return this.sessions.has(session);
  }

  /** Called after a redeemed token or link: a new session, ending the least recently used past the cap. */
  openSession(): string {
    this.expire();
    const session = randomBytes(32).toString('base64url');
    const now = this.now();
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.end(oldest);
    }
    this.sessions.set(session, { createdAt: now, lastUsedAt: now });
    return session;
  }

  get sessionCount(): number {
    this.expire();
    return this.sessions.size;
  }

  /** Told of every session that ends (expired or evicted), so its open sockets can be closed. */
  onSessionEnd(listener: (session: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Ends sessions past their idle time or lifetime. Cheap: called on every check and by a timer. */
  expire(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsedAt >= this.limits.idleMs || now - s.createdAt >= this.limits.maxAgeMs) this.end(id);
    }
  }

  private end(session: string): void {
    if (!this.sessions.delete(session)) return;
    for (const listener of [...this.endListeners]) listener(session);
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
