import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  CHANNEL_CLOSE,
  CONTROL_PLANE_PATHS,
  NODE_VERSION_HEADER,
  NodeMessageSchema,
  parseChannelAuthorization,
  type ControlPlaneMessage,
  type IrSummary,
  type NodeMessage,
} from '../shared/controlPlaneApi';
import { OpenIrError, type ErrorBody } from '../shared/errors';
import type { VersionPolicy } from '../shared/versionPolicy';
import type { Clock } from './clock';
import type { Logger } from './log';
import { problems } from './problems';
import type { ControlPlaneStore, NodeRow } from './store';
import { statusFingerprint, summaryForNode } from './summary';

/** Normal closure while the server stops; nodes retry. */
const GOING_AWAY = 1001;
const MAX_MESSAGE_BYTES = 64 * 1024;
const CLOSE_GRACE_MS = 2_000;

export interface ChannelHubDeps {
  store: ControlPlaneStore;
  clock: Clock;
  log: Logger;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  authenticate(nodeId: string, credential: string): NodeRow | null;
  summarize(irId: string): IrSummary | null;
  /** The version policy in force (read each time: `version set` writes the database directly). */
  versionPolicy(): VersionPolicy | null;
  /** Throws VERSION_EXPIRED when the policy refuses this version now. */
  checkVersion(version: string): void;
  /** Job events of the channels; set once the dispatcher exists (it needs the hub too). */
  jobs?: () => ChannelJobEvents | undefined;
  /** Every accepted heartbeat, for the monitoring time series. */
  onHeartbeat?: (
    nodeId: string,
    irId: string,
    heartbeat: Extract<NodeMessage, { type: 'heartbeat' }>,
  ) => void;
}

/** What the job dispatcher hears from the channels. */
export interface ChannelJobEvents {
  nodeConnected(nodeId: string): void;
  nodeReady(
    nodeId: string,
    irId: string,
    activeJobIds: readonly string[],
    assignedBefore: ReadonlySet<string>,
  ): void;
  nodeLost(nodeId: string): void;
  dispatch(irId: string): void;
  onNodeMessage(
    nodeId: string,
    irId: string,
    message: Extract<NodeMessage, { type: 'jobAccepted' | 'jobRefused' | 'jobProgress' | 'jobFinished' }>,
  ): void;
}

interface Connection {
  nodeId: string;
  nodeName: string;
  irId: string;
  socket: WebSocket;
  /** Closes the channel when heartbeats stop; re-armed by each heartbeat. */
  silenceTimer: NodeJS.Timeout | undefined;
  /** Cleared before each ping: a TCP peer that died without a FIN never answers. */
  answeredPing: boolean;
  /** Set once this connection no longer speaks for its node (closed, timed out or replaced). */
  detached: boolean;
  closed: Promise<void>;
  /** Set by the first heartbeat, which carries the jobs limit: only then may jobs be pushed. */
  ready: boolean;
  jobLimit: number;
  /** Jobs the control plane had given this node before this connection opened. */
  assignedBefore: Set<string>;
}

/**
 * The control channels of connected nodes. The database holds what the admin
 * CLI needs to see (connected, last seen); this class holds the sockets, the
 * timers, and what each IR was last told, so nodes hear of a status change once.
 */
export class ChannelHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly connections = new Map<string, Connection>();
  private readonly toldFingerprint = new Map<string, string>();
  private readonly pingTimer: NodeJS.Timeout;
  private closing = false;

  constructor(private readonly deps: ChannelHubDeps) {
    this.pingTimer = setInterval(() => this.pingAll(), deps.heartbeatIntervalMs);
    this.pingTimer.unref();
  }

  get connectedNodeIds(): string[] {
    return [...this.connections.keys()];
  }

  readyNodes(irId: string): { nodeId: string; nodeName: string }[] {
    return [...this.connections.values()]
      .filter((c) => c.irId === irId && c.ready && !c.detached)
      .map((c) => ({ nodeId: c.nodeId, nodeName: c.nodeName }));
  }

  isConnected(nodeId: string): boolean {
    const connection = this.connections.get(nodeId);
    return connection !== undefined && !connection.detached;
  }

  sendTo(nodeId: string, message: ControlPlaneMessage): boolean {
    const connection = this.connections.get(nodeId);
    if (!connection || connection.detached || connection.socket.readyState !== connection.socket.OPEN)
      return false;
    connection.socket.send(JSON.stringify(message));
    return true;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => this.deps.log.warn(`Control channel handshake failed: ${error.message}`));
    const pathname = new URL(request.url ?? '/', 'https://control-plane.invalid').pathname;
    if (pathname !== CONTROL_PLANE_PATHS.channel || this.closing) {
      rejectUpgrade(socket, 404, { code: 'NOT_FOUND', message: `No control channel at ${pathname}.` });
      return;
    }
    const presented = parseChannelAuthorization(request.headers.authorization);
    const node = presented ? this.deps.authenticate(presented.nodeId, presented.credential) : null;
    if (!node) {
      this.deps.log.warn(
        `Refused a control channel from ${request.socket.remoteAddress ?? '?'}: credential rejected`,
      );
      rejectUpgrade(socket, 401, problems.credentialRejected().toBody());
      return;
    }
    const remote = request.socket.remoteAddress ?? '?';
    // The version the node runs now: it may have been updated since it registered.
    const reported = request.headers[NODE_VERSION_HEADER];
    const version = typeof reported === 'string' && reported.length <= 40 ? reported : node.version;
    const refusal = this.versionRefusal(version);
    if (refusal) {
      this.deps.log.warn(`Refused a control channel from node '${node.name}': ${refusal.message}`);
      rejectUpgrade(socket, 426, refusal.toBody());
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => void this.admit(ws, node, remote));
  }

  /**
   * `ir drain` and `version set` write the database; the admin command wakes
   * the server, which tells nodes asked to drain, and closes the channels of
   * nodes whose version the policy now refuses (not waiting for their next
   * heartbeat).
   */
  wake(): void {
    for (const node of this.deps.store.nodesWithDrainRequested()) {
      if (this.sendTo(node.id, { type: 'drain' })) {
        this.deps.log.info(`Asked node '${node.name}' to drain`);
      }
    }
    for (const connection of [...this.connections.values()]) {
      const node = this.deps.store.findNode(connection.nodeId);
      if (node) this.refuseIfExpired(connection, node.version);
    }
  }

  /** Tells the IR's connected nodes, except `exceptNodeId` (which got the summary in its own reply), if a status moved. */
  irChanged(irId: string, exceptNodeId?: string): void {
    const summary = this.deps.summarize(irId);
    if (!summary || this.closing) return;
    const fingerprint = statusFingerprint(summary);
    if (this.toldFingerprint.get(irId) === fingerprint) return;
    this.toldFingerprint.set(irId, fingerprint);
    for (const connection of this.connections.values()) {
      if (connection.irId === irId && connection.nodeId !== exceptNodeId) {
        send(connection.socket, { type: 'irChanged', ir: summaryForNode(summary, connection.nodeId) });
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pingTimer);
    const all = [...this.connections.values()];
    for (const connection of all) connection.socket.close(GOING_AWAY, 'Control plane shutting down');
    await Promise.race([
      Promise.all(all.map((c) => c.closed)),
      new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    for (const connection of all) connection.socket.terminate();
    await Promise.all(all.map((c) => c.closed));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /**
   * A second connection for a node that is already connected: if the first
   * still answers a ping, two live hosts share one identity, and the newcomer
   * is refused (4409 DUPLICATE_NODE) rather than the two replacing each other
   * in a loop; if it does not, it was a dead link and the newcomer takes over.
   */
  private async admit(socket: WebSocket, node: NodeRow, remote: string): Promise<void> {
    const previous = this.connections.get(node.id);
    if (previous && !previous.detached && (await answersPing(previous.socket, this.probeMs))) {
      this.deps.log.warn(
        `Refused a second control channel for node '${node.name}' (${node.id}) from ${remote}: its first connection still answers. Two hosts use one node identity (a cloned machine or a data directory restored twice).`,
      );
      socket.close(CHANNEL_CLOSE.duplicate, 'DUPLICATE_NODE');
      return;
    }
    if (socket.readyState !== socket.OPEN || this.closing) return;
    this.accept(socket, node);
  }

  private get probeMs(): number {
    return Math.min(2_000, Math.max(500, this.deps.heartbeatIntervalMs));
  }

  private accept(socket: WebSocket, node: NodeRow): void {
    let markClosed = () => {};
    const connection: Connection = {
      nodeId: node.id,
      nodeName: node.name,
      irId: node.irId,
      socket,
      silenceTimer: undefined,
      answeredPing: true,
      detached: false,
      closed: new Promise((resolve) => (markClosed = resolve)),
      ready: false,
      jobLimit: 0,
      assignedBefore: new Set(this.deps.store.jobs.activeOfNode(node.id).map((job) => job.id)),
    };
    socket.on('close', (code) => {
      this.detach(connection, true);
      this.deps.log.info(`Node '${node.name}' (${node.id}) disconnected (close code ${code})`);
      markClosed();
    });
    socket.on('error', (error) =>
      this.deps.log.warn(`Control channel of node '${node.name}': ${error.message}`),
    );
    socket.on('pong', () => (connection.answeredPing = true));
    socket.on('message', (data, isBinary) => this.onMessage(connection, data, isBinary));

    const previous = this.connections.get(node.id);
    if (previous) {
      this.detach(previous, false);
      previous.socket.close(CHANNEL_CLOSE.replaced, 'Replaced by a newer connection of the same node');
      this.deps.log.info(
        `Node '${node.name}' reconnected; closed its previous control channel, which no longer answered`,
      );
    }
    this.connections.set(node.id, connection);
    this.deps.jobs?.()?.nodeConnected(node.id);
    this.deps.store.markConnected(node.id, this.deps.clock.nowMs());
    this.armSilenceTimer(connection);
    this.deps.log.info(`Node '${node.name}' (${node.id}) connected`);

    const ir = this.deps.summarize(node.irId);
    if (ir) {
      send(socket, {
        type: 'welcome',
        nodeId: node.id,
        heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
        heartbeatTimeoutMs: this.deps.heartbeatTimeoutMs,
        ir: summaryForNode(ir, node.id),
        versionPolicy: this.deps.versionPolicy(),
      });
    }
    // Asked while it was away (or before a restart): it hears it now.
    if (node.drainRequested) send(socket, { type: 'drain' });
    this.irChanged(node.irId, node.id);
  }

  private onMessage(connection: Connection, data: RawData, isBinary: boolean): void {
    if (connection.detached) return;
    const message = isBinary ? null : parseNodeMessage(data);
    if (!message) {
      this.deps.log.warn(`Ignored an invalid message from node '${connection.nodeName}'`);
      return;
    }
    switch (message.type) {
      case 'heartbeat':
        this.onHeartbeat(connection, message);
        return;
      case 'jobAccepted':
      case 'jobRefused':
      case 'jobProgress':
      case 'jobFinished':
        this.deps.jobs?.()?.onNodeMessage(connection.nodeId, connection.irId, message);
        return;
    }
  }

  private onHeartbeat(connection: Connection, heartbeat: Extract<NodeMessage, { type: 'heartbeat' }>): void {
    const known = this.deps.store.recordHeartbeat(connection.nodeId, heartbeat, this.deps.clock.nowMs());
    if (!known) {
      this.deps.log.info(`Node '${connection.nodeName}' was removed; closing its control channel`);
      this.detach(connection, false);
      connection.socket.close(
        CHANNEL_CLOSE.credentialRejected,
        'This node no longer exists on the control plane',
      );
      return;
    }
    if (heartbeat.version && this.refuseIfExpired(connection, heartbeat.version)) return;
    this.armSilenceTimer(connection);
    this.deps.onHeartbeat?.(connection.nodeId, connection.irId, heartbeat);
    const ir = this.deps.summarize(connection.irId);
    if (ir) {
      send(connection.socket, {
        type: 'heartbeatAck',
        ir: summaryForNode(ir, connection.nodeId),
        versionPolicy: this.deps.versionPolicy(),
      });
    }
    this.irChanged(connection.irId, connection.nodeId);
    const jobs = this.deps.jobs?.();
    if (!connection.ready) {
      connection.ready = true;
      connection.jobLimit = heartbeat.jobLimit;
      jobs?.nodeReady(
        connection.nodeId,
        connection.irId,
        heartbeat.activeJobIds ?? [],
        connection.assignedBefore,
      );
    } else if (heartbeat.jobLimit !== connection.jobLimit) {
      connection.jobLimit = heartbeat.jobLimit;
      jobs?.dispatch(connection.irId);
    }
  }

  private versionRefusal(version: string): OpenIrError | null {
    try {
      this.deps.checkVersion(version);
      return null;
    } catch (error) {
      if (error instanceof OpenIrError) return error;
      throw error;
    }
  }

  /** Closes the channel (4426, the message as reason) when the policy refuses this version; true if it did. */
  private refuseIfExpired(connection: Connection, version: string): boolean {
    if (connection.detached) return false;
    const refusal = this.versionRefusal(version);
    if (!refusal) return false;
    this.deps.log.warn(`Closing the control channel of node '${connection.nodeName}': ${refusal.message}`);
    this.detach(connection, true);
    // A close reason is at most 123 bytes: a longer message goes without, and the node words it itself.
    const reason = Buffer.byteLength(refusal.message) <= 123 ? refusal.message : '';
    connection.socket.close(CHANNEL_CLOSE.versionExpired, reason);
    setTimeout(() => connection.socket.terminate(), CLOSE_GRACE_MS).unref();
    return true;
  }

  private armSilenceTimer(connection: Connection): void {
    clearTimeout(connection.silenceTimer);
    connection.silenceTimer = setTimeout(() => {
      this.deps.log.warn(
        `Node '${connection.nodeName}' sent no heartbeat for ${this.deps.heartbeatTimeoutMs} ms; closing its control channel`,
      );
      this.detach(connection, true);
      connection.socket.close(CHANNEL_CLOSE.heartbeatTimeout, 'No heartbeat received in time');
      // A peer that never completes the close handshake must not hold the socket open.
      setTimeout(() => connection.socket.terminate(), CLOSE_GRACE_MS).unref();
    }, this.deps.heartbeatTimeoutMs);
    connection.silenceTimer.unref();
  }

  /** Stops a connection from speaking for its node; marks the node offline unless a newer connection took over. */
  private detach(connection: Connection, markOffline: boolean): void {
    if (connection.detached) return;
    connection.detached = true;
    clearTimeout(connection.silenceTimer);
    if (this.connections.get(connection.nodeId) !== connection) return;
    this.connections.delete(connection.nodeId);
    if (!markOffline) return;
    this.deps.store.markDisconnected(connection.nodeId);
    this.irChanged(connection.irId);
    this.deps.jobs?.()?.nodeLost(connection.nodeId);
  }

  private pingAll(): void {
    for (const connection of this.connections.values()) {
      if (!connection.answeredPing) {
        this.deps.log.warn(
          `Node '${connection.nodeName}' did not answer a ping; dropping its control channel`,
        );
        connection.socket.terminate();
        continue;
      }
      connection.answeredPing = false;
      connection.socket.ping();
    }
  }
}

/** Whether the socket answers a ping within `ms` (a dead TCP peer never does). */
function answersPing(socket: WebSocket, ms: number): Promise<boolean> {
  if (socket.readyState !== socket.OPEN) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (alive: boolean) => {
      clearTimeout(timer);
      socket.off('pong', onPong);
      socket.off('close', onClose);
      resolve(alive);
    };
    const onPong = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    socket.on('pong', onPong);
    socket.once('close', onClose);
    socket.ping();
  });
}

function parseNodeMessage(data: RawData): NodeMessage | null {
  try {
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    const text = bytes.toString('utf8');
    const parsed = NodeMessageSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function send(socket: WebSocket, message: ControlPlaneMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

const REASONS: Record<number, string> = { 401: 'Unauthorized', 404: 'Not Found', 426: 'Upgrade Required' };

/** The handshake is still plain HTTP here, so a refusal is an ordinary JSON error response. */
function rejectUpgrade(socket: Duplex, status: number, error: ErrorBody): void {
  const body = JSON.stringify({ error });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
