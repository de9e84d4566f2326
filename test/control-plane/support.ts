import { X509Certificate, createHash } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { parseAuthKey } from '../../src/shared/authKey';
import {
  CONTROL_PLANE_PATHS,
  ControlPlaneMessageSchema,
  RegisterResponseSchema,
  channelAuthorization,
  type ControlPlaneMessage,
  type IrSummary,
  type NodeMessage,
  type RegisterResponse,
} from '../../src/shared/controlPlaneApi';

/** A test talks to the control plane as a node would: trusting the pin in the key, not a CA. */

export function pinOfPeer(socket: TLSSocket): string {
  const raw = socket.getPeerCertificate().raw;
  const spki = new X509Certificate(raw).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export interface HttpResult {
  status: number;
  body: unknown;
  pin: string;
}

export function httpsJson(
  endpoint: string,
  method: string,
  path: string,
  body?: unknown,
  rawBody?: string,
): Promise<HttpResult> {
  const payload = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, endpoint),
      {
        method,
        rejectUnauthorized: false,
        agent: false,
        timeout: 10_000,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const pin = pinOfPeer(res.socket as TLSSocket);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text: the assertion will show it
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, pin });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface NodeIdentity {
  nodeName: string;
  fqdn?: string;
  /** Defaults to a URL: the HA rule lets a second node join only while the others have remote access. */
  remoteAccessUrl?: string | null;
  /** Replace a node of the same name in the key's IR. */
  replace?: boolean;
  /** The credential-sync public key (base64) the node reports. */
  peerKey?: string;
}

/** Registers with the key exactly as a node does; checks the TLS pin from the key before sending the secret. */
export async function register(authKey: string, node: NodeIdentity): Promise<HttpResult> {
  const key = parseAuthKey(authKey);
  const result = await httpsJson(key.endpoint, 'POST', CONTROL_PLANE_PATHS.register, {
    irId: key.irId,
    secret: key.secret,
    nodeName: node.nodeName,
    fqdn: node.fqdn ?? `${node.nodeName.toLowerCase()}.test.internal`,
    version: '0.1.0',
    platform: 'linux',
    remoteAccessUrl:
      node.remoteAccessUrl === undefined
        ? `http://${node.nodeName.toLowerCase()}.test.internal:8060`
        : node.remoteAccessUrl,
    ...(node.replace ? { replace: true } : {}),
    ...(node.peerKey ? { peerKey: node.peerKey } : {}),
  });
  if (result.pin !== key.pin)
    throw new Error(`TLS pin mismatch: key has ${key.pin}, server has ${result.pin}`);
  return result;
}

export async function registerOk(authKey: string, node: NodeIdentity): Promise<RegisterResponse> {
  const result = await register(authKey, node);
  if (result.status !== 200)
    throw new Error(`register ${node.nodeName}: ${result.status} ${JSON.stringify(result.body)}`);
  return RegisterResponseSchema.parse(result.body);
}

export function errorCodeOf(body: unknown): string | undefined {
  return (body as { error?: { code?: string } } | null)?.error?.code;
}

export function heartbeat(overrides: Partial<Extract<NodeMessage, { type: 'heartbeat' }>> = {}): NodeMessage {
  return {
    type: 'heartbeat',
    runningJobs: 0,
    jobLimit: 4,
    cpuPercent: 5,
    memoryUsedBytes: 1_000,
    memoryTotalBytes: 8_000,
    peersReachable: true,
    ...overrides,
  };
}

export interface Closed {
  code: number;
  reason: string;
}

/** A node's control channel, recording every message so tests can await the one they expect (bounded). */
export class TestChannel {
  private readonly inbox: ControlPlaneMessage[] = [];
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<Closed>;
  readonly invalidMessages: string[] = [];

  private constructor(private readonly socket: WebSocket) {
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
    socket.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      const parsed = ControlPlaneMessageSchema.safeParse(JSON.parse(text));
      if (parsed.success) this.inbox.push(parsed.data);
      else this.invalidMessages.push(text);
      for (const wake of this.waiters) wake();
    });
  }

  static open(
    endpoint: string,
    registration: Pick<RegisterResponse, 'nodeId' | 'nodeCredential'>,
    options: { autoPong?: boolean } = {},
  ): Promise<TestChannel> {
    return TestChannel.openWith(
      endpoint,
      channelAuthorization(registration.nodeId, registration.nodeCredential),
      options,
    );
  }

  /** `autoPong: false` plays a link that died without a FIN: pings go unanswered. */
  static openWith(
    endpoint: string,
    authorization: string,
    options: { autoPong?: boolean } = {},
  ): Promise<TestChannel> {
    const socket = channelSocket(endpoint, authorization, options.autoPong ?? true);
    return new Promise((resolve, reject) => {
      // Attach listeners before 'open' so the welcome that follows at once is not missed.
      const channel = new TestChannel(socket);
      socket.once('open', () => resolve(channel));
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`channel refused with HTTP ${res.statusCode}`)),
      );
      socket.once('error', reject);
    });
  }

  /** Opens a channel that the server is expected to refuse; resolves to the HTTP status and JSON body. */
  static refusal(
    endpoint: string,
    authorization: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    const socket = channelSocket(endpoint, authorization);
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        socket.terminate();
        reject(new Error('the channel was accepted'));
      });
      socket.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          socket.terminate();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        });
      });
      socket.once('error', (error) => reject(error));
    });
  }

  send(message: NodeMessage | string): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first not-yet-taken message of this type, waiting up to timeoutMs for it. */
  async next<K extends ControlPlaneMessage['type']>(
    type: K,
    timeoutMs = 5_000,
  ): Promise<Extract<ControlPlaneMessage, { type: K }>> {
    const take = () => {
      const index = this.inbox.findIndex((message) => message.type === type);
      if (index < 0) return undefined;
      return this.inbox.splice(index, 1)[0] as Extract<ControlPlaneMessage, { type: K }>;
    };
    const now = take();
    if (now) return now;
    return new Promise((resolve, reject) => {
      const wake = () => {
        const found = take();
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no '${type}' message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }

  /** Waits until an irChanged arrives whose summary satisfies `predicate`. */
  async nextIrChanged(predicate: (ir: IrSummary) => boolean, timeoutMs = 5_000): Promise<IrSummary> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.next('irChanged', Math.max(1, deadline - Date.now()));
      if (predicate(message.ir)) return message.ir;
    }
  }

  pending(type: ControlPlaneMessage['type']): number {
    return this.inbox.filter((message) => message.type === type).length;
  }

  close(): void {
    this.socket.close(1000);
  }

  terminate(): void {
    this.socket.terminate();
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }
}

function channelSocket(endpoint: string, authorization: string | undefined, autoPong = true): WebSocket {
  const url = new URL(CONTROL_PLANE_PATHS.channel, endpoint.replace(/^https:/, 'wss:'));
  return new WebSocket(url, {
    autoPong,
    headers: authorization === undefined ? {} : { Authorization: authorization },
    rejectUnauthorized: false,
    handshakeTimeout: 10_000,
  });
}

/** Polls until `check` returns a value (not undefined), at most timeoutMs. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  stepMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last !== undefined) return last;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}
