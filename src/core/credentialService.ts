import type { OperationInput } from '../shared/contract';
import type { IrNodeInfo } from '../shared/controlPlaneApi';
import type { CredentialInput, CredentialView } from '../shared/credentials';
import type { OpenIrError } from '../shared/errors';
import { CredentialStore, type ResolvedCredential } from './jobs/credentialStore';
import type { SourceLogger } from './logger';
import type { PeerKey } from './peerSeal';
import { PeerSync } from './peerSync';
import type { SealedMessage } from './peerSeal';
import type { SecretVault } from './vault';

export interface CredentialServiceLinks {
  dataDir: string;
  vault: SecretVault;
  clock: () => Date;
  /** Every secret the node learns is redacted from its logs. */
  redactor: { add(secret: string): void };
  log: SourceLogger;
  syncLog: SourceLogger;
  /** Anti-entropy round and reachability check with the peers. */
  syncIntervalMs: number;
  /** This node, while registered. */
  self: () => { irId: string; nodeId: string } | null;
  /** The credential-sync key of this node. */
  peerKey: () => Promise<PeerKey>;
  /** The IR's nodes as the control plane last described them. */
  nodes: () => readonly IrNodeInfo[];
  /** "Can this node reach all its Online peers" changed: the heartbeat and the status say so at once. */
  reachabilityChanged: () => void;
  /** Pushes `credentialsChanged`. */
  push: (view: { credentials: CredentialView[] }) => void;
}

/**
 * The node's data store credentials and their sync with the IR's other nodes:
 * the credential store (names and fields on disk, secrets in the vault) and
 * peer sync over remote access. Pushes `credentialsChanged` on every change,
 * made here or merged from a peer.
 */
export class CredentialService {
  private readonly store: CredentialStore;
  private readonly sync: PeerSync;

  constructor(private readonly links: CredentialServiceLinks) {
    this.store = new CredentialStore({
      dataDir: links.dataDir,
      vault: links.vault,
      clock: links.clock,
      onSecret: (secret) => links.redactor.add(secret),
      origin: () => links.self()?.nodeId ?? '',
      onRejected: (name, reason) =>
        links.log.warn(
          `Kept this node's credential "${name}": the synced version is not valid here. ${reason}`,
        ),
    });
    this.sync = new PeerSync({
      credentials: this.store,
      self: links.self,
      key: links.peerKey,
      nodes: links.nodes,
      log: links.syncLog,
      intervalMs: links.syncIntervalMs,
      onReachability: (reachable) => {
        links.log[reachable ? 'info' : 'warn'](
          reachable
            ? 'All Online peers are reachable again.'
            : 'Cannot reach every Online peer over remote access; this node is Limited until it can.',
        );
        links.reachabilityChanged();
      },
      onMerged: () => void this.publish(),
    });
  }

  async list(): Promise<{ credentials: CredentialView[] }> {
    return { credentials: await this.store.list() };
  }

  async set(input: CredentialInput): Promise<CredentialView> {
    const view = await this.store.set(input);
    this.links.log.info('Data store credential saved.', {
      name: view.name,
      type: view.type,
      version: view.version,
    });
    void this.sync.syncNow(`credential "${view.name}" saved`);
    void this.publish();
    return view;
  }

  async delete(input: OperationInput<'deleteCredential'>): Promise<CredentialView> {
    const view = await this.store.delete(input.name);
    this.links.log.info('Data store credential deleted.', { name: view.name });
    void this.sync.syncNow(`credential "${view.name}" deleted`);
    void this.publish();
    return view;
  }

  /** Removes this machine's copies (unregistering): they belong to the IR, not to the machine. */
  async clear(): Promise<void> {
    await this.store.clear();
    void this.publish();
  }

  /** A credential with its secrets, for a job's source or sink. */
  /** Which linked factories' jobs may use the credential (null: no such credential). */
  allowedFactories(name: string): Promise<string[] | null> {
    return this.store.allowedFactories(name);
  }

  resolve(name: string, allowed: Parameters<CredentialStore['resolve']>[1]): Promise<ResolvedCredential> {
    return this.store.resolve(name, allowed);
  }

  /** An unsaved credential input with its secrets (an absent one is the saved one), for Test connection. */
  resolveInput(input: CredentialInput): Promise<ResolvedCredential> {
    return this.store.resolveInput(input);
  }

  /** Pushes the credential list (names and non-secret fields) so an open Settings page follows syncs too. */
  async publish(): Promise<void> {
    try {
      this.links.push(await this.list());
    } catch (error) {
      this.links.log.warn('The credential list could not be read to tell the UI.', { cause: String(error) });
    }
  }

  /** One sealed exchange with one peer, its failure thrown (troubleshoot). */
  checkPeer(peer: Parameters<PeerSync['checkPeer']>[0]): Promise<void> {
    return this.sync.checkPeer(peer);
  }

  get peersReachable(): boolean {
    return this.sync.peersReachable;
  }

  /** Why this node is Limited, for the status report. */
  get peersProblem(): OpenIrError | null {
    return this.sync.problem;
  }

  /** The channel opened: sync rounds start. */
  startSync(): void {
    this.sync.start();
  }

  /** The channel closed: no rounds, and reachability is unknown again. */
  stopSync(): Promise<void> {
    return this.sync.stop();
  }

  /** The control plane described the IR: sync if the peers changed. */
  peersChanged(): void {
    this.sync.peersChanged();
  }

  /** A peer's sync request, as the remote-access listener receives it. */
  answer(body: unknown): Promise<SealedMessage> {
    return this.sync.answer(body);
  }
}
