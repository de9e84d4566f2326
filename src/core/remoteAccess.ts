import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { httpStatusFor, OpenIrError, toErrorBody } from '../shared/errors';
import {
  EncryptCredentialRequestSchema,
  REMOTE_ACCESS_PATHS,
  type RemoteAccessSettings,
} from '../shared/remoteAccess';
import type { SourceLogger } from './logger';
import { PEER_SYNC_MAX_BYTES } from './peerSync';
import {
  checkBodyMatchesHeader,
  checkSealHeader,
  PEER_SEAL_HEADER,
  type SealHeader,
} from './remoteAccessSealHeader';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
}

/** Credential encryptions one intranet address may ask for per minute (the security review: it was unlimited). */
export const ENCRYPT_PER_MINUTE = 30;
const MINUTE_MS = 60_000;

export interface RemoteAccessListenerOptions {
  /** Interface to listen on: all by default (it is for the intranet); tests use loopback. */
  bindHost: string;
  health: () => Record<string, unknown>;
  encrypt: (value: string) => Promise<string>;
  /** Answers a peer's sealed credential-sync exchange. */
  peerSync?: (body: unknown) => Promise<unknown>;
  /** This node's id while registered: sync requests for another node are refused from their header. */
  nodeId?: () => string | null;
  log: SourceLogger;
  /** For tests: the encryptions allowed per address and minute (default ENCRYPT_PER_MINUTE). */
  encryptPerMinute?: number;
  clock?: () => number;
}

/**
 * The node's listener for the intranet (TCP 8060 by default): health for
 * peers and the credential-encryption endpoint for intranet clients, over TLS
 * with the chosen certificate, or plain HTTP when the user insisted.
 */
export class RemoteAccessListener {
  private server: FastifyInstance | null = null;
  private certificateSha256: string | null = null;
  private readonly refusalsLogged = new Set<string>();
  /** Per client address: encryptions asked for in the current minute. */
  private readonly encryptions = new Map<string, { windowStart: number; count: number }>();

  constructor(private readonly options: RemoteAccessListenerOptions) {}

  /** A fixed one-minute window per address; the table is bounded so many addresses cannot grow it. */
  private allowEncryption(ip: string): boolean {
    const now = (this.options.clock ?? Date.now)();
    const limit = this.options.encryptPerMinute ?? ENCRYPT_PER_MINUTE;
    const entry = this.encryptions.get(ip);
    if (!entry || now - entry.windowStart >= MINUTE_MS) {
      if (this.encryptions.size >= 10_000) this.encryptions.clear();
      this.encryptions.set(ip, { windowStart: now, count: 1 });
      return true;
    }
    entry.count += 1;
    return entry.count <= limit;
  }

  private refuseSync(ip: string, error: unknown, reply: FastifyReply): FastifyReply {
    const body = toErrorBody(error);
    // Once per client and reason: a peer retries every round.
    const said = `${ip} ${body.message}`;
    if (!this.refusalsLogged.has(said)) {
      if (this.refusalsLogged.size > 100) this.refusalsLogged.clear();
      this.refusalsLogged.add(said);
      this.options.log.warn(`Refused a credential sync from ${ip}: ${body.message}`, { code: body.code });
    }
    return reply.code(httpStatusFor(body.code)).send({ error: body });
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** SHA-256 fingerprint (AB:CD:…) of the certificate served, which peers pin; null without TLS. */
  get certSha256(): string | null {
    return this.server ? this.certificateSha256 : null;
  }

  get port(): number | null {
    const address = this.server?.server.address() as AddressInfo | null | undefined;
    return address ? address.port : null;
  }

  async start(
    settings: Exclude<RemoteAccessSettings, { mode: 'disabled' }>,
    tls: TlsMaterial | null,
  ): Promise<void> {
    await this.stop();
    const app = Fastify({
      logger: false,
      bodyLimit: 128 * 1024,
      ...(settings.mode === 'tls' && tls
        ? { https: { cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' as const } }
        : {}),
    });
    // Anyone on the intranet can ask: it says the node answers, and nothing about it (no name, IR or version).
    app.get(REMOTE_ACCESS_PATHS.health, async () => ({ status: 'ok' }));
    app.post(REMOTE_ACCESS_PATHS.encryptCredential, async (request, reply) => {
      if (!this.allowEncryption(request.ip)) {
        const refusal = new OpenIrError(
          'RATE_LIMITED',
          `More than ${this.options.encryptPerMinute ?? ENCRYPT_PER_MINUTE} credential encryptions in a minute from ${request.ip}.`,
          { fix: 'Wait a minute and try again.' },
        ).toBody();
        return reply.code(429).header('retry-after', '60').send({ error: refusal });
      }
      const parsed = EncryptCredentialRequestSchema.safeParse(request.body);
      if (!parsed.success) {
        return reply
          .code(400)
          .send({ error: { code: 'INVALID_INPUT', message: 'Send {"value": "<credential>"} as JSON.' } });
      }
      try {
        const encrypted = await this.options.encrypt(parsed.data.value);
        this.options.log.info('Encrypted a data store credential for an intranet client.', {
          client: request.ip,
        });
        return { encrypted, nodeName: String(this.options.health().nodeName ?? '') };
      } catch (error) {
        const body = toErrorBody(error);
        return reply.code(httpStatusFor(body.code)).send({ error: body });
      }
    });
    const peerSync = this.options.peerSync;
    if (peerSync) {
      // Checked in onRequest, which runs before Fastify reads the body: a request without a valid
      // seal header costs the listener its headers only, not up to PEER_SYNC_MAX_BYTES of JSON.
      const sealHeaders = new WeakMap<object, SealHeader>();
      app.post(
        REMOTE_ACCESS_PATHS.peerSync,
        {
          bodyLimit: PEER_SYNC_MAX_BYTES,
          onRequest: async (request, reply) => {
            try {
              const header = checkSealHeader(
                request.headers[PEER_SEAL_HEADER],
                this.options.nodeId ? this.options.nodeId() : undefined,
                (this.options.clock ?? Date.now)(),
              );
              sealHeaders.set(request, header);
            } catch (error) {
              // The unread body is not drained: the connection closes after the answer.
              reply.header('connection', 'close');
              return this.refuseSync(request.ip, error, reply);
            }
          },
        },
        async (request, reply) => {
          try {
            checkBodyMatchesHeader(request.body, sealHeaders.get(request) as SealHeader);
            return await peerSync(request.body);
          } catch (error) {
            return this.refuseSync(request.ip, error, reply);
          }
        },
      );
    }
    try {
      await app.listen({ host: this.options.bindHost, port: settings.port });
    } catch (error) {
      await app.close().catch(() => undefined);
      const code = (error as NodeJS.ErrnoException).code;
      throw new OpenIrError(
        'REMOTE_ACCESS_PORT_IN_USE',
        code === 'EADDRINUSE'
          ? `Port ${settings.port} is already in use on this machine.`
          : `Cannot listen on port ${settings.port}: ${(error as Error).message}.`,
        {
          fix: 'Choose another port for remote access, or stop the program that uses this one.',
          cause: error,
        },
      );
    }
    this.server = app;
    this.certificateSha256 =
      settings.mode === 'tls' && tls ? new X509Certificate(tls.certPem).fingerprint256 : null;
    this.options.log.info(
      `Remote access listening on port ${this.port} (${settings.mode === 'tls' ? 'TLS' : 'no TLS'}).`,
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      await server.close();
      this.options.log.info('Remote access stopped.');
    }
  }
}
