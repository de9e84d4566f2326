import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyReply } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { WEB_EVENTS_PATH, WEB_SESSION_ENDED_CLOSE_CODE, type WebEventFrame } from '../shared/api';
import { EVENT_NAMES, type HostApi } from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import type { HostEvents } from '../core/events';
import { bindContractOverHttp, MAX_REQUEST_BYTES } from '../core/httpBinding';
import type { SourceLogger } from '../core/logger';
import {
  contentSecurityPolicy,
  DEFAULT_SESSION_LIMITS,
  sessionCookieName,
  WebGuard,
  type SessionLimits,
} from './guard';
import { newLinkKey, SignInLinks, writeWebUiFile } from './signInLink';

export interface WebUiOptions {
  api: HostApi;
  events: HostEvents;
  log: SourceLogger;
  /** 0 picks a free port. */
  port: number;
  /** The built renderer; defaults to dist/renderer beside this file. */
  rendererDir?: string;
  /** Where to write the address and link key for `openir ui-url` (see signInLink.ts). */
  signInFile?: { path: string; groupAccess: boolean };
  /** Idle timeout, lifetime and cap of browser sessions; the defaults in guard.ts otherwise. */
  sessionLimits?: Partial<SessionLimits>;
}

export interface RunningWebUi {
  port: number;
  /** The URL to print once: it carries the token. */
  url: string;
  token: string;
  close(): Promise<void>;
}

const DEFAULT_RENDERER_DIR = path.join(__dirname, '..', 'renderer');

/**
 * The headless face: serves the built renderer and binds the same contract
 * over HTTP (operations) and WebSocket (events) on 127.0.0.1 only.
 */
export async function startWebUi(options: WebUiOptions): Promise<RunningWebUi> {
  const guard = new WebGuard({ ...DEFAULT_SESSION_LIMITS, ...options.sessionLimits });
  // Set once the port is known; until then no request can arrive.
  let cookieName = '';
  const links = new SignInLinks(newLinkKey());
  const rendererDir = options.rendererDir ?? DEFAULT_RENDERER_DIR;
  const app = Fastify({ logger: false, bodyLimit: MAX_REQUEST_BYTES });
  await app.register(fastifyCookie);
  let csp = '';
  const setSessionCookie = (reply: FastifyReply, session: string) =>
    reply.setCookie(cookieName, session, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      maxAge: Math.max(1, Math.floor(guard.limits.idleMs / 1000)),
    });

  app.addHook('onRequest', async (request, reply) => {
    const verdict = guard.checkHostAndOrigin(request.headers.host, request.headers.origin);
    if (!verdict.ok) return reply.code(verdict.status).type('text/plain').send(verdict.reason);
    const url = new URL(request.url, 'http://localhost');
    if (request.method === 'GET' && url.searchParams.has('token')) {
      const token = url.searchParams.get('token') ?? undefined;
      // The printed token (once), or a one-time link from `openir ui-url`.
      if (!guard.redeemPrintedToken(token) && !(token !== undefined && links.redeem(token))) {
        return reply
          .code(401)
          .type('text/plain')
          .send(
            'This link is not valid for the running OpenIR host: each link works once (the URL printed by `openir serve` too). Run `openir ui-url` for a new one.',
          );
      }
      setSessionCookie(reply, guard.openSession());
      // Drop the token from the address bar and history.
      return reply.code(303).header('location', '/').send();
    }
    const session = request.cookies[cookieName];
    if (!guard.useSession(session)) {
      const wantsJson = url.pathname.startsWith('/api/');
      return wantsJson
        ? reply.code(401).send({
            error: {
              code: 'UNAUTHORIZED',
              message: 'Not signed in to this OpenIR host, or the session expired.',
              fix: 'Run `openir ui-url` for a one-time sign-in link (the URL printed by `openir serve` works once).',
            },
          })
        : reply
            .code(401)
            .type('text/plain')
            .send(
              'Open the URL printed by `openir serve` (it works once), or run `openir ui-url` for a one-time sign-in link.',
            );
    }
    // Renewed while used, so the browser forgets the cookie when the host forgets the session.
    setSessionCookie(reply, session as string);
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', csp);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cache-control', 'no-store');
    return payload;
  });

  bindContractOverHttp(app, options.api, options.log);

  if (fs.existsSync(path.join(rendererDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: rendererDir, index: 'index.html', wildcard: false });
  } else {
    app.get('/', async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain')
        .send('The web UI is not built. Run `npm run build` and start `openir serve` again.'),
    );
  }

  const sockets = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== WEB_EVENTS_PATH) return refuse(404, 'Not Found');
    const verdict = guard.checkHostAndOrigin(request.headers.host, request.headers.origin);
    if (!verdict.ok) return refuse(403, 'Forbidden');
    const session = fastifyCookie.parse(request.headers.cookie ?? '')[cookieName];
    if (!session || !guard.useSession(session)) return refuse(401, 'Unauthorized');
    sockets.handleUpgrade(request, socket, head, (ws) => {
      // The session may have ended while the handshake ran.
      if (!guard.isAlive(session)) return ws.close(WEB_SESSION_ENDED_CLOSE_CODE, 'session ended');
      let open = socketsBySession.get(session);
      if (!open) socketsBySession.set(session, (open = new Set()));
      open.add(ws);
      ws.on('close', () => open.delete(ws));
      streamEvents(ws, options.events);
    });
  });

  // An ended session's sockets are closed too: events stop reaching a page that may no longer ask.
  const socketsBySession = new Map<string, Set<WebSocket>>();
  guard.onSessionEnd((session) => {
    for (const ws of socketsBySession.get(session) ?? [])
      ws.close(WEB_SESSION_ENDED_CLOSE_CODE, 'session ended');
    socketsBySession.delete(session);
  });
  // Idle sessions end even when nobody knocks.
  const sweep = setInterval(() => guard.expire(), Math.min(60_000, Math.max(250, guard.limits.idleMs / 4)));
  sweep.unref();

  try {
    await app.listen({ host: '127.0.0.1', port: options.port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new OpenIrError(
        'HOST_ALREADY_RUNNING',
        `The web UI port ${options.port} on 127.0.0.1 is already in use.`,
        {
          fix: 'Choose another port with `openir serve --web-port <port>` (0 picks a free one).',
        },
      );
    }
    throw error;
  }
  const port = (app.server.address() as AddressInfo).port;
  guard.bind(port);
  cookieName = sessionCookieName(port);
  csp = contentSecurityPolicy(port);
  const signInFile = options.signInFile;
  if (signInFile) {
    await writeWebUiFile(
      signInFile.path,
      { url: `http://127.0.0.1:${port}/`, port, pid: process.pid, linkKey: links.linkKey },
      signInFile.groupAccess,
    );
  }
  return {
    port,
    token: guard.token,
    url: `http://127.0.0.1:${port}/?token=${guard.token}`,
    close: async () => {
      clearInterval(sweep);
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await app.close();
      if (signInFile) await fs.promises.rm(signInFile.path, { force: true });
    },
  };
}

/** Forwards every contract event to one WebSocket client until it goes away. */
function streamEvents(ws: WebSocket, events: HostEvents): void {
  const unsubscribe = EVENT_NAMES.map((event) =>
    events.on(event, (payload) => {
      if (ws.readyState !== ws.OPEN) return;
      const frame: WebEventFrame = { event, payload };
      ws.send(JSON.stringify(frame));
    }),
  );
  ws.on('close', () => unsubscribe.forEach((off) => off()));
  ws.on('message', () => undefined);
}
