import type { IrNodeInfo, NodeMessage } from '../../shared/controlPlaneApi';
import type { Registration } from '../config';
import { PeerKey } from '../peerSeal';
import { NodeSession, type NodeSessionLinks } from './nodeSession';

export interface CurrentSessionLinks extends NodeSessionLinks {
  /** How long `register` and a restore wait for the first Online before answering. */
  settleMs: number;
  serviceRunning: () => boolean;
  /** Peer sync stops with the channel. */
  sync: NodeSessionLinks['sync'] & { stopSync(): Promise<void> };
  /** The views that depend on the registration (proxy route, remote access, certificates) are read again. */
  registrationChanged: () => Promise<void>;
}

/**
 * The node session in force, if any. A change of registration or of the
 * service replaces the session whole: the old one is disposed of (its
 * channel closed, its timers stopped) and a fresh one takes its place.
 */
export class CurrentSession {
  private session: NodeSession | null = null;

  constructor(private readonly links: CurrentSessionLinks) {}

  /** The session, for the status; null while unregistered. */
  get facts(): NodeSession | null {
    return this.session;
  }

  get registration(): Registration | null {
    return this.session?.registration ?? null;
  }

  get irNodes(): readonly IrNodeInfo[] {
    return this.session?.irNodes ?? [];
  }

  /** The session's credential-sync key; before registering, the vault's (created on first use). */
  peerKey(): Promise<PeerKey> {
    return this.session?.peerKey() ?? PeerKey.load(this.links.vault);
  }

  send(message: NodeMessage): boolean {
    return this.session?.send(message) ?? false;
  }

  /** A control-channel round trip (troubleshoot); rejects when unregistered or the channel is not open. */
  roundTrip(timeoutMs: number): Promise<number> {
    if (!this.session) return Promise.reject(new Error('not registered'));
    return this.session.roundTrip(timeoutMs);
  }

  heartbeatNow(): void {
    this.session?.heartbeatNow();
  }

  /** Replaces the session whole (load, shutdown); the old one's channel closes and peer sync stops with it. */
  async replace(registration: Registration | null): Promise<void> {
    const old = this.session;
    this.session = registration ? new NodeSession(registration, this.links) : null;
    if (!old) return;
    await old.dispose();
    await this.links.sync.stopSync();
  }

  /** A new registration, or none (register, unregister): the views that depend on it are read again. */
  async adopt(registration: Registration | null): Promise<void> {
    await this.replace(registration);
    await this.links.registrationChanged();
  }

  /** Closes the channel (stop, unregister): the same registration goes on in a fresh, idle session. */
  close(): Promise<void> {
    return this.adopt(this.registration);
  }

  /** Opens the channel if the service runs. */
  async connect(): Promise<void> {
    if (this.links.serviceRunning()) await this.session?.connect();
  }

  /** Waits, bounded, for the first Online (or a known failure). */
  async settle(): Promise<void> {
    await this.session?.waitForSettled(this.links.settleMs);
  }
}
