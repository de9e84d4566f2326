import { parseAuthKey } from '../../shared/authKey';
import { removeNodeCommand } from '../../shared/backup';
import { clampHeartbeat } from '../../shared/controlPlaneApi';
import type { OperationInput, OperationOutput, StatusReport } from '../../shared/contract';
import { OpenIrError } from '../../shared/errors';
import type { RemoteAccessSettings } from '../../shared/remoteAccess';
import type { NodeConfig, Registration } from '../config';
import type { Connector } from '../connector';
import {
  checkAuthKey,
  NODE_CREDENTIAL,
  registerWithControlPlane,
  removeSelfFromControlPlane,
} from '../controlPlaneClient';
import type { SourceLogger } from '../logger';
import type { PeerKey } from '../peerSeal';
import { pinnedTlsOptions, probeControlPlane } from '../pinnedTls';
import type { SecretVault } from '../vault';

export interface RegistrationLinks {
  fqdn: string;
  version: string;
  clock: () => Date;
  config: { update(change: (draft: NodeConfig) => void): Promise<NodeConfig> };
  vault: Pick<SecretVault, 'get' | 'set'>;
  redactor: { add(secret: string): void };
  log: SourceLogger;
  /** Connections with the proxy setting in force now. */
  connector: () => Connector;
  serviceRunning: () => boolean;
  /** Remote access is set up before registering (the join rule needs it) and its URL is sent along. */
  remoteAccess: {
    set(settings: RemoteAccessSettings, irNodeCount: number, serviceRunning: boolean): Promise<void>;
    readonly url: string | null;
    readonly certSha256: string | null;
  };
  /** The credential-sync key whose public half the control plane hands the peers. */
  peerKey: () => Promise<PeerKey>;
  status: {
    setProblem(problem: OpenIrError | null): void;
    changed(): void;
    report(sample: boolean): StatusReport;
  };
  /**
   * The node session: adopted on registering (a new idle session) or dropped
   * (null); closed before the secrets go; connected once registered, waiting
   * (bounded) for the first Online.
   */
  session: {
    /** The registration in force, if any. */
    readonly registration: Registration | null;
    adopt(registration: Registration | null): Promise<void>;
    close(): Promise<void>;
    connect(): Promise<void>;
    settle(): Promise<void>;
  };
  jobs: { cancelAll(why: string): void };
  /** Removes the registration and the secrets bound to it (node credential, sync key) from this machine. */
  clearRegistration: () => Promise<void>;
  /** Removes this machine's copies of the IR's data store credentials. */
  clearCredentials: () => Promise<void>;
}

/**
 * Registering the node with an integration runtime, replacing a registration,
 * unregistering, and what a node hears when its control plane removed it.
 * The session that runs the registration is the host's; this service only
 * decides when one starts and ends.
 */
export class RegistrationService {
  private inProgress = false;

  constructor(private readonly links: RegistrationLinks) {}

  get registering(): boolean {
    return this.inProgress;
  }

  /** Registers, adopts the new registration as the node session and connects it; answers once it settled. */
  async register(input: OperationInput<'register'>): Promise<StatusReport> {
    const { links } = this;
    const current = links.session.registration;
    if (current && !input.replace) {
      throw new OpenIrError(
        'ALREADY_REGISTERED',
        `This node is already registered as "${current.nodeName}" in the integration runtime "${current.irName}" (${current.endpoint}).`,
        {
          fix: 'Back up this node first (`openir backup --out node.openir-backup --password-stdin`, or Settings › Back up), then register again with `--replace` (it removes this node from its control plane first), or `openir unregister` and register.',
        },
      );
    }
    if (this.inProgress) {
      throw new OpenIrError(
        'REGISTRATION_IN_PROGRESS',
        'A registration is already in progress on this node.',
        {
          fix: 'Wait for it to finish, then check `openir status`.',
        },
      );
    }
    if (!links.serviceRunning()) {
      throw new OpenIrError(
        'SERVICE_STOPPED',
        'The Integration Runtime Host Service is stopped on this machine.',
        { fix: 'Start it (`openir start`) and register again.' },
      );
    }
    const key = parseAuthKey(input.authKey);
    // Before anything can log or fail with it: the key check of a replace, then the registration.
    links.redactor.add(key.secret);
    if (current && input.replace) {
      // The old registration is given up only once the new key's control plane is reachable,
      // presents the pinned certificate, and takes the key: a key for a control plane that is
      // down, or a revoked one, leaves this node registered as it was.
      const connector = links.connector();
      const { caPem } = await probeControlPlane(key.endpoint, key.pin, connector);
      const checked = await checkAuthKey(key.endpoint, pinnedTlsOptions(caPem, key.pin), connector, {
        irId: key.irId,
        secret: key.secret,
      });
      if (!checked) {
        links.log.warn('The new control plane cannot check keys before registering; replacing anyway.', {
          endpoint: key.endpoint,
        });
      }
      // This machine's data store credentials stay for the new registration (the user asked for it).
      await this.unregister({}, { keepCredentials: true });
    }
    // Set up first, so a port in use or an unusable certificate stops registration before it starts.
    if (input.remoteAccess) await links.remoteAccess.set(input.remoteAccess, 0, links.serviceRunning());
    const nodeName = input.nodeName ?? defaultNodeName(links.fqdn);
    this.inProgress = true;
    links.status.setProblem(null);
    links.status.changed();
    links.log.info('Registering with the control plane.', {
      irName: key.irName,
      endpoint: key.endpoint,
      nodeName,
      ...(input.replaceNode ? { replaceNode: true } : {}),
    });
    try {
      const connector = links.connector();
      const { caPem } = await probeControlPlane(key.endpoint, key.pin, connector);
      const tls = pinnedTlsOptions(caPem, key.pin);
      const answer = await registerWithControlPlane(key.endpoint, tls, connector, {
        irId: key.irId,
        secret: key.secret,
        nodeName,
        fqdn: links.fqdn,
        version: links.version,
        platform: `${process.platform}-${process.arch}`,
        remoteAccessUrl: links.remoteAccess.url,
        remoteAccessCertSha256: links.remoteAccess.certSha256,
        peerKey: (await links.peerKey()).publicKey,
        ...(input.replaceNode ? { replace: true } : {}),
      });
      links.redactor.add(answer.nodeCredential);
      await links.vault.set(NODE_CREDENTIAL, answer.nodeCredential);
      const timings = clampHeartbeat(answer);
      const registration: Registration = {
        irId: answer.irId,
        irName: answer.irName,
        nodeId: answer.nodeId,
        nodeName: answer.nodeName,
        fqdn: links.fqdn,
        endpoint: key.endpoint,
        pin: key.pin,
        controlPlaneCaPem: caPem,
        registeredAt: links.clock().toISOString(),
        // Bounded as the channel bounds its welcome: the node session's own timers use these too.
        heartbeatIntervalMs: timings.heartbeatIntervalMs,
        heartbeatTimeoutMs: timings.heartbeatTimeoutMs,
      };
      await links.config.update((draft) => {
        draft.registration = registration;
      });
      await links.session.adopt(registration);
      links.log.info('Registered.', {
        irName: answer.irName,
        nodeName: answer.nodeName,
        nodeId: answer.nodeId,
        ...(answer.replacedNodeId ? { replacedNodeId: answer.replacedNodeId } : {}),
      });
    } catch (error) {
      const failure =
        error instanceof OpenIrError
          ? error
          : new OpenIrError('INTERNAL', 'Registration failed unexpectedly.', { cause: error });
      links.status.setProblem(failure);
      links.log.error(`Registration failed: ${failure.message}`, {
        code: failure.code,
        cause: String(failure.cause ?? ''),
      });
      throw failure;
    } finally {
      this.inProgress = false;
      links.status.changed();
    }
    await links.session.connect();
    await links.session.settle();
    return links.status.report(true);
  }

  /**
   * Removes the node from its control plane, then cleans this machine: jobs,
   * channel, registration secrets and (unless kept) the IR's credentials.
   * When the control plane cannot be told, nothing changes unless `force`.
   */
  async unregister(
    input: OperationInput<'unregister'>,
    { keepCredentials = false } = {},
  ): Promise<OperationOutput<'unregister'>> {
    const { links } = this;
    const reg = links.session.registration;
    if (!reg) {
      throw new OpenIrError('NOT_REGISTERED', 'This node is not registered.', {
        fix: 'Register it with `openir register --key-stdin < key.txt`, or restore a backup.',
      });
    }
    const removeThere = removeNodeCommand(reg.irName, reg.nodeName);
    let controlPlaneRemoved = false;
    let notice: string | null = null;
    try {
      const credential = await links.vault.get(NODE_CREDENTIAL);
      if (!credential) {
        throw new OpenIrError('VAULT_UNAVAILABLE', 'The node credential is missing from the secret store.');
      }
      const tls = pinnedTlsOptions(reg.controlPlaneCaPem, reg.pin);
      await removeSelfFromControlPlane(reg.endpoint, tls, links.connector(), reg.nodeId, credential);
      controlPlaneRemoved = true;
    } catch (error) {
      const failure =
        error instanceof OpenIrError
          ? error
          : new OpenIrError('INTERNAL', 'Removing the node failed unexpectedly.', { cause: error });
      if (failure.code === 'NODE_CREDENTIAL_REJECTED' || failure.code === 'NODE_NOT_FOUND') {
        // Removed on the control plane already (e.g. `ir remove-node`): only this machine is left to clean.
        controlPlaneRemoved = true;
        notice = 'The control plane had already removed this node.';
      } else if (!input.force) {
        throw new OpenIrError(
          failure.code,
          `This node could not be removed from its control plane (${reg.endpoint}): ${failure.message} Nothing was changed.`,
          {
            fix: `Make sure the control plane is reachable and try again. Or unregister with \`--force\` (in Settings: tick “Clean this machine only”) to clean this machine only; the control plane then still lists the node: remove it there with \`${removeThere}\`.`,
            cause: failure,
          },
        );
      } else {
        notice = `The control plane could not be told (${failure.message.replace(/\.$/, '')}) and still lists the node "${reg.nodeName}" in "${reg.irName}". Remove it there with: ${removeThere}`;
      }
    }
    links.jobs.cancelAll('This node was unregistered.');
    await links.session.close();
    await links.clearRegistration();
    // Data store credentials belong to the IR (its nodes sync them): they leave with the node, or
    // a later registration elsewhere would hand them to another IR's nodes.
    if (!keepCredentials) await links.clearCredentials();
    // Its sync key went with the registration's vault entries; a new registration makes a new one.
    await links.session.adopt(null);
    links.status.setProblem(null);
    links.log.info('Unregistered.', {
      nodeName: reg.nodeName,
      irName: reg.irName,
      nodeId: reg.nodeId,
      controlPlaneRemoved,
    });
    if (notice && !controlPlaneRemoved) links.log.warn(notice);
    links.status.changed();
    return {
      controlPlaneRemoved,
      notice,
      node: { id: reg.nodeId, name: reg.nodeName },
      ir: { id: reg.irId, name: reg.irName },
      status: links.status.report(true),
    };
  }
}

/** What a node hears when its control plane no longer knows it: it was removed there. */
export function removedNode(reg: Registration): OpenIrError {
  return new OpenIrError(
    'NODE_CREDENTIAL_REJECTED',
    `The control plane no longer accepts this node: "${reg.nodeName}" was removed from the integration runtime "${reg.irName}" (or its credential was revoked). Unregister it here (openir unregister) to register again.`,
    {
      fix: 'To register again: `openir unregister` (Settings › Unregister) clears the old registration here, then `openir register --key-stdin < key.txt` with a current key.',
    },
  );
}

/** The machine's short host name, made into a valid node name. */
export function defaultNodeName(fqdn: string): string {
  const label = (fqdn.split('.')[0] ?? '').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (label || 'node').slice(0, 63);
}
