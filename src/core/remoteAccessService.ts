import { OpenIrError } from '../shared/errors';
import {
  PLAIN_REMOTE_ACCESS_WARNING,
  remoteAccessUrl,
  type RemoteAccessSettings,
  type RemoteAccessView,
} from '../shared/remoteAccess';
import type { ConfigStore } from './config';
import type { SourceLogger } from './logger';
import { RemoteAccessListener, type TlsMaterial } from './remoteAccess';
import { ViewFeed } from './viewFeed';

/** Where the listener gets its certificate: the node's certificate store, checked before use. */
export interface RemoteAccessCertificates {
  /**
   * The certificate and key for a thumbprint, after checking it meets the
   * TLS requirements for this node. Throws CERTIFICATE_NOT_USABLE with the
   * problems and their fixes when it does not.
   */
  tlsMaterialFor(thumbprint: string): Promise<TlsMaterial & { warnings: string[] }>;
}

export interface RemoteAccessServiceOptions {
  config: ConfigStore;
  certificates: RemoteAccessCertificates;
  listener: RemoteAccessListener;
  fqdn: string;
  /** What peers are told to connect to instead of the FQDN (OPENIR_ADVERTISE_HOST). */
  advertiseHost?: string | undefined;
  log: SourceLogger;
  /** How many nodes the IR has as far as this node knows: a change is allowed only while it has one. */
  irNodeCount: () => number;
  /** Whether the service runs (the listener then starts with the new setting at once). */
  serviceRunning: () => boolean;
  /** The control plane admits a second node only once it knows this one has remote access: tell it now. */
  heartbeatNow: () => void;
  /** Pushes `remoteAccessChanged`. */
  push: (view: RemoteAccessView) => void;
}

/** Remote access from intranet: the saved setting, the listener that serves it, and the HA rule for changing it. */
export class RemoteAccessService {
  private settings: RemoteAccessSettings = { mode: 'disabled' };
  private warning: string | null = null;
  private readonly feed: ViewFeed<RemoteAccessView>;

  constructor(private readonly options: RemoteAccessServiceOptions) {
    this.feed = new ViewFeed(
      () => this.view(),
      options.push,
      (error) =>
        options.log.warn('Remote access could not be read to tell the UI.', { cause: String(error) }),
    );
  }

  async load(): Promise<void> {
    this.settings = (await this.options.config.load()).remoteAccess;
    await this.refresh();
  }

  /** Reads the view again (e.g. the IR's node count changed) and pushes it if it changed. */
  refresh(): Promise<void> {
    return this.feed.refresh();
  }

  get current(): RemoteAccessSettings {
    return this.settings;
  }

  /** The URL peers and the control plane are told, or null while disabled or not listening. */
  get url(): string | null {
    return this.options.listener.listening
      ? remoteAccessUrl(this.settings, this.options.advertiseHost ?? this.options.fqdn)
      : null;
  }

  /** The certificate peers must see (SHA-256, pinned by them), or null without TLS. */
  get certSha256(): string | null {
    return this.options.listener.certSha256;
  }

  /** Brings the listener in line with the saved setting (service start). A failure is reported, never fatal. */
  async start(): Promise<OpenIrError | null> {
    try {
      await this.listen(this.settings);
      await this.refresh();
      return null;
    } catch (error) {
      const failure =
        error instanceof OpenIrError
          ? error
          : new OpenIrError('INTERNAL', 'Remote access could not start.', { cause: error });
      this.options.log.error(`Remote access could not start: ${failure.message}`, { code: failure.code });
      await this.refresh();
      return failure;
    }
  }

  async stop(): Promise<void> {
    await this.options.listener.stop();
    await this.refresh();
  }

  view(): RemoteAccessView {
    const irNodeCount = this.options.irNodeCount();
    const locked = irNodeCount > 1;
    return {
      settings: this.settings,
      listening: this.options.listener.listening,
      url: this.url,
      changeAllowed: !locked,
      changeBlockedReason: locked ? lockedMessage(irNodeCount) : null,
      warning: this.warning,
    };
  }

  /** `setRemoteAccess`: changes the setting and tells the control plane at once. */
  async change(next: RemoteAccessSettings): Promise<RemoteAccessView> {
    await this.set(next, this.options.irNodeCount(), this.options.serviceRunning());
    this.options.heartbeatNow();
    return this.view();
  }

  /**
   * Checks, applies, then saves: the listener starts with the new setting
   * first, so a port in use or an unusable certificate changes nothing.
   */
  async set(next: RemoteAccessSettings, irNodeCount: number, serviceRunning: boolean): Promise<void> {
    if (irNodeCount > 1) {
      throw new OpenIrError('REMOTE_ACCESS_LOCKED', lockedMessage(irNodeCount), {
        fix: 'Remove the other nodes from the integration runtime, change remote access on the remaining node, then register them again.',
      });
    }
    const previous = this.settings;
    if (serviceRunning) {
      try {
        await this.listen(next);
      } catch (error) {
        await this.listen(previous).catch(() => undefined);
        await this.refresh();
        throw error;
      }
    }
    await this.options.config.update((draft) => {
      draft.remoteAccess = next;
    });
    this.settings = next;
    this.options.log.info(`Remote access set to ${describe(next)}.`);
    await this.refresh();
  }

  private async listen(settings: RemoteAccessSettings): Promise<void> {
    this.warning = null;
    if (settings.mode === 'disabled') {
      await this.options.listener.stop();
      return;
    }
    let material: TlsMaterial | null = null;
    if (settings.mode === 'tls') {
      const checked = await this.options.certificates.tlsMaterialFor(settings.thumbprint);
      material = checked;
      this.warning = checked.warnings.length > 0 ? checked.warnings.join(' ') : null;
    } else {
      this.warning = PLAIN_REMOTE_ACCESS_WARNING;
    }
    await this.options.listener.start(settings, material);
  }
}

function lockedMessage(count: number): string {
  return `Remote access can be changed only while the integration runtime has a single node; it has ${count}.`;
}

export function describe(settings: RemoteAccessSettings): string {
  if (settings.mode === 'disabled') return 'Disabled';
  if (settings.mode === 'plain') return `Enabled without TLS on port ${settings.port}`;
  return `Enabled with TLS on port ${settings.port} (certificate ${settings.thumbprint})`;
}
