import WebSocket from 'ws';
import {
  CHANNEL_CLOSE,
  clampHeartbeat,
  CONTROL_PLANE_PATHS,
  ControlPlaneMessageSchema,
  NODE_VERSION_HEADER,
  channelAuthorization,
  type ControlPlaneMessage,
  type IrSummary,
  type NodeMessage,
} from '../shared/controlPlaneApi';
import { OpenIrError, errorBodyOf } from '../shared/errors';
import { parseJson } from './jsonRequest';
import type { VersionPolicy } from '../shared/versionPolicy';
import type { Connector } from './connector';
import { connectionError } from './endpoint';
import type { SourceLogger } from './logger';

export type ChannelState = 'idle' | 'connecting' | 'open' | 'unreachable';

/**
 * After a DUPLICATE_NODE refusal, the next try: rare enough that two copies
 * never fight, soon enough that the survivor of a fixed clone comes back.
 */
const DUPLICATE_RETRY_MS = 5 * 60_000;

export interface ControlChannelOptions {
  endpoint: string;
  /** Opens the pinned TLS connection (direct or through the proxy) for the WebSocket. */
  createConnection: ReturnType<Connector['createConnection']>;
  nodeId: string;
  credential: string;
  /** The OpenIR version this node runs; the control plane refuses one its version policy does not accept. */
  version?: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Backoff between reconnect attempts: doubles from min to max, with jitter. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  heartbeat: () => Omit<Extract<NodeMessage, { type: 'heartbeat' }>, 'type'>;
  log: SourceLogger;
  onState: (state: ChannelState, error: OpenIrError | null) => void;
  /**
   * The error when the control plane refuses the node credential (HTTP 401, or
   * the channel closed for it): the host knows the node and IR to name and how
   * to register again.
   */
  credentialRejected: () => OpenIrError;
  /** The error when another host is connected as this node (close 4409): names the node and the fixes. */
  duplicateNode: () => OpenIrError;
  onIrSummary: (ir: IrSummary) => void;
  /**
   * The error when the control plane refuses this version (HTTP 426 on the
   * handshake with its own words, or close 4426 with the message as reason).
   */
  versionExpired?: (message: string | null) => OpenIrError;
  /** The version policy from the welcome and each heartbeat acknowledgement (null: none set). */
  onVersionPolicy?: (policy: VersionPolicy | null) => void;
  /** The control plane asks this node to drain (`ir drain`). */
  onDrain?: () => void;
  /** Job messages (assignments, cancellations) from the control plane. */
  onJobMessage?: (message: Extract<ControlPlaneMessage, { type: 'jobAssigned' | 'jobCancel' }>) => void;
}

/**
 * The node's persistent outbound connection to its control plane: a WebSocket
 * over pinned TLS, authenticated with the node credential, kept alive with
 * heartbeats and re-opened with backoff whenever it drops.
 */
export class ControlChannel {
  private socket: WebSocket | null = null;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private livenessTimer: NodeJS.Timeout | null = null;
  private intervalMs: number;
  private timeoutMs: number;
  /** Troubleshoot round trips waiting for the next heartbeat acknowledgement. */
  private readonly ackWaiters = new Set<() => void>();

  constructor(private readonly options: ControlChannelOptions) {
    this.intervalMs = options.heartbeatIntervalMs;
    this.timeoutMs = options.heartbeatTimeoutMs;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** Closes the channel and stops reconnecting; resolves when the socket is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const done = setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000);
        socket.once('close', () => {
          clearTimeout(done);
          resolve();
        });
        socket.close(1000, 'node stopping');
      });
    }
    this.options.onState('idle', null);
  }

  /** Sends a message if the channel is open; false otherwise (the caller decides whether to keep it). */
  send(message: NodeMessage): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /** A heartbeat now rather than at the next tick, e.g. when the jobs limit changed. */
  heartbeatNow(): void {
    if (this.socket) this.sendHeartbeat(this.socket);
  }

  /**
   * A control-channel round trip for the troubleshoot report: a heartbeat now,
   * resolved with the milliseconds until the control plane acknowledges it.
   * An application-level answer, not a WebSocket pong, so it proves the
   * control plane's channel handler (not just its socket) is alive.
   */
  roundTrip(timeoutMs: number): Promise<number> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(
        new OpenIrError('CONTROL_PLANE_UNREACHABLE', 'The control channel is not open.', {
          fix: 'The node reconnects on its own; see the checks above for why it cannot.',
        }),
      );
    }
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.ackWaiters.delete(done);
        resolve(Math.round((performance.now() - started) * 10) / 10);
      };
      const timer = setTimeout(() => {
        this.ackWaiters.delete(done);
        reject(
          new OpenIrError(
            'TIMEOUT',
            `The control plane did not acknowledge a heartbeat within ${timeoutMs} ms.`,
            { fix: 'The control plane may be overloaded; check its log and load.' },
          ),
        );
      }, timeoutMs);
      this.ackWaiters.add(done);
      this.sendHeartbeat(socket);
    });
  }

  private connect(): void {
    const { endpoint, log } = this.options;
    this.options.onState('connecting', null);
    const url = new URL(CONTROL_PLANE_PATHS.channel, endpoint);
    url.protocol = 'wss:';
    const socket = new WebSocket(url, {
      createConnection: this.options.createConnection,
      headers: {
        authorization: channelAuthorization(this.options.nodeId, this.options.credential),
        ...(this.options.version ? { [NODE_VERSION_HEADER]: this.options.version } : {}),
      },
      handshakeTimeout: 10_000,
      maxPayload: 4 * 1024 * 1024,
    });
    this.socket = socket;
    let failure: OpenIrError | null = null;

    socket.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 426) {
        // The refusal's own words (expired on which date, or below which minimum) are in the body.
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          failure = this.versionExpired(errorBodyOf(parseJson(Buffer.concat(chunks)))?.message ?? null);
          socket.terminate();
        });
        return;
      }
      failure =
        res.statusCode === 401
          ? this.options.credentialRejected()
          : new OpenIrError(
              'CONTROL_PLANE_ERROR',
              `The control plane refused the control channel (HTTP ${res.statusCode}).`,
              {
                fix: 'Check the control plane log.',
              },
            );
      res.resume();
      socket.terminate();
    });
    socket.on('error', (error) => {
      failure ??= connectionError(endpoint, error);
    });
    socket.on('message', (data) => this.onMessage(socket, data));
    socket.on('pong', () => this.touch(socket));
    socket.on('close', (code, reason) => {
      if (this.socket !== socket) return;
      const closeReason = reason.toString('utf8');
      this.socket = null;
      this.clearTimers();
      if (this.stopped) return;
      if (!failure && code === CHANNEL_CLOSE.credentialRejected) {
        failure = this.options.credentialRejected();
      }
      if (!failure && code === CHANNEL_CLOSE.versionExpired) {
        failure = this.versionExpired(closeReason.length > 0 ? closeReason : null);
      }
      if (failure?.code === 'VERSION_EXPIRED') {
        // Not a loop either: only a new policy (or an update) changes the answer.
        log.error(failure.message, { code: failure.code });
        this.options.onState('unreachable', failure);
        this.scheduleReconnect(DUPLICATE_RETRY_MS);
        return;
      }
      if (!failure && code === CHANNEL_CLOSE.duplicate) {
        failure = this.options.duplicateNode();
        // Not a loop: the other copy stays connected; try again only now and then, in case it went away.
        log.error(failure.message, { code: failure.code });
        this.options.onState('unreachable', failure);
        this.scheduleReconnect(DUPLICATE_RETRY_MS);
        return;
      }
      failure ??= new OpenIrError(
        'CONTROL_PLANE_UNREACHABLE',
        `The control channel to ${endpoint} closed (code ${code}).`,
        {
          fix: 'The node reconnects on its own; check the control plane and the network if this persists.',
        },
      );
      // Say it loudly once per outage; the retries that follow go to debug.
      if (this.attempt === 0) log.warn(failure.message, { code: failure.code });
      else log.debug(failure.message, { code: failure.code, attempt: this.attempt });
      this.options.onState('unreachable', failure);
      this.scheduleReconnect();
    });
  }

  private versionExpired(message: string | null): OpenIrError {
    return (
      this.options.versionExpired?.(message) ??
      new OpenIrError(
        'VERSION_EXPIRED',
        message ?? 'The control plane no longer accepts this OpenIR version.',
        {
          fix: 'Update OpenIR on this node, then start it again.',
        },
      )
    );
  }

  private onMessage(socket: WebSocket, data: WebSocket.RawData): void {
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      this.options.log.warn('Ignored a control channel message that is not JSON.');
      return;
    }
    const parsed = ControlPlaneMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.options.log.warn('Ignored an unknown control channel message.', {
        type: (json as { type?: unknown })?.type,
      });
      return;
    }
    const message = parsed.data;
    this.touch(socket);
    if (message.type === 'welcome') {
      this.attempt = 0;
      const timings = clampHeartbeat(message);
      if (timings.clamped) {
        this.options.log.warn(
          'The control plane sent heartbeat timings out of bounds; using the nearest allowed.',
          {
            sent: { intervalMs: message.heartbeatIntervalMs, timeoutMs: message.heartbeatTimeoutMs },
            used: { intervalMs: timings.heartbeatIntervalMs, timeoutMs: timings.heartbeatTimeoutMs },
          },
        );
      }
      this.intervalMs = timings.heartbeatIntervalMs;
      this.timeoutMs = timings.heartbeatTimeoutMs;
      this.options.log.info('Control channel open.', { endpoint: this.options.endpoint });
      this.options.onState('open', null);
      this.sendHeartbeat(socket);
      this.heartbeatTimer = setInterval(() => this.sendHeartbeat(socket), this.intervalMs);
    }
    if (message.type === 'heartbeatAck') for (const done of [...this.ackWaiters]) done();
    if (message.type === 'jobAssigned' || message.type === 'jobCancel') {
      this.options.onJobMessage?.(message);
      return;
    }
    if (message.type === 'drain') {
      this.options.onDrain?.();
      return;
    }
    if (message.type === 'welcome' || message.type === 'heartbeatAck') {
      this.options.onVersionPolicy?.(message.versionPolicy ?? null);
    }
    this.options.onIrSummary(message.ir);
  }

  private sendHeartbeat(socket: WebSocket): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    const message: NodeMessage = { type: 'heartbeat', ...this.options.heartbeat() };
    socket.send(JSON.stringify(message));
    socket.ping();
  }

  /** Any sign of life pushes the deadline; silence past the timeout means a dead peer, not a slow one. */
  private touch(socket: WebSocket): void {
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    this.livenessTimer = setTimeout(() => {
      this.options.log.warn('No answer from the control plane within the heartbeat timeout; reconnecting.');
      socket.terminate();
    }, this.timeoutMs);
  }

  private scheduleReconnect(atLeastMs = 0): void {
    const { reconnectMinMs, reconnectMaxMs } = this.options;
    const base = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.attempt);
    const delay = Math.max(atLeastMs, Math.round(base / 2 + Math.random() * (base / 2)));
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private clearTimers(): void {
    for (const timer of [this.reconnectTimer, this.livenessTimer]) if (timer) clearTimeout(timer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.reconnectTimer = this.livenessTimer = this.heartbeatTimer = null;
  }
}
