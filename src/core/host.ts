import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAuthKey } from '../shared/authKey';
import type { HostApi, LogLevel, OperationInput, OperationOutput, StatusReport } from '../shared/contract';
import type { ProxyInput, ProxyTestReport, ProxyView } from '../shared/proxy';
import type { IrNodeInfo } from '../shared/controlPlaneApi';
import { normalizeThumbprint, type CertificateInfo, type StoredCertificate } from '../shared/certificates';
import type { RemoteAccessSettings, RemoteAccessView } from '../shared/remoteAccess';
import type { CredentialInput, CredentialView, JobSettingsView } from '../shared/credentials';
import { CredentialStore } from './jobs/credentialStore';
import { JobRunner } from './jobs/jobRunner';
import { JobHistory } from './jobHistory';
import type { JobsView } from '../shared/jobs';
import { LocalPathPolicy } from './jobs/pathPolicy';
import { openSource } from './jobs/sources';
import { openLocalFileSink, openStagingSink } from './jobs/sinks';
import type { CopyRequest, OpenedSink } from './jobs/copyEnds';
import { OpenIrError } from '../shared/errors';
import { CertificateStore } from './certificates';
import { CredentialCipher } from './credentialCipher';
import { RemoteAccessListener, type TlsMaterial } from './remoteAccess';
import { RemoteAccessService } from './remoteAccessService';
import { deriveNodeStatus } from '../shared/status';
import type { ConfigStore, JobsConfig, Registration } from './config';
import { ControlChannel, type ChannelState } from './controlChannel';
import { NODE_CREDENTIAL, registerWithControlPlane, removeSelfFromControlPlane } from './controlPlaneClient';
import { HostEvents } from './events';
import type { Logger, Redactor, SourceLogger } from './logger';
import { defaultConcurrentJobsLimit, type SystemMetrics } from './metrics';
import { pinnedTlsOptions, probeControlPlane } from './pinnedTls';
import { environmentProxyResolver, type SystemProxyResolver } from './proxyRoute';
import { ProxyService } from './proxyService';
import { PeerKey } from './peerSeal';
import { PeerSync } from './peerSync';
import type { SecretVault } from './vault';
import { BackupService } from './backup/service';
import { BACKUP_EXTENSION } from './backup/format';
import { describeBackup, removeNodeCommand } from '../shared/backup';

export interface HostServiceOptions {
  dataDir: string;
  fqdn: string;
  version: string;
  config: ConfigStore;
  vault: SecretVault;
  logger: Logger;
  redactor: Redactor;
  metrics: SystemMetrics;
  /** Interface the remote-access listener binds: all by default (it serves the intranet). */
  remoteAccessBind?: string;
  /** The address peers are told to reach this node at, when DNS does not know its FQDN. */
  advertiseHost?: string;
  /** Credential-sync round with the peers (and reachability check); changes are pushed at once. */
  peerSyncIntervalMs?: number;
  /** "Use system proxy": the environment by default; Electron passes the session's resolver. */
  systemProxy?: SystemProxyResolver;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How long `register` waits for the first Online before answering with the current state. */
  registerSettleMs?: number;
  clock?: () => Date;
}

/**
 * The runtime host service: the node itself. Owns registration and the
 * control channel, and derives the one status every face shows. It knows
 * nothing of Electron, HTTP or the CLI; those are bindings of `HostApi`.
 */
export class HostService implements HostApi {
  readonly events = new HostEvents();
  private readonly log: SourceLogger;
  private readonly startedAt: string;
  private registration: Registration | null = null;
  private serviceRunning = false;
  private registering = false;
  private channelState: ChannelState = 'idle';
  private channel: ControlChannel | null = null;
  private connectedSince: string | null = null;
  private lastError: OpenIrError | null = null;
  private irNodes: IrNodeInfo[] = [];
  private lastEmitted = '';
  private readonly defaultJobLimit = defaultConcurrentJobsLimit();
  private jobsConfig: JobsConfig = { allowedFolders: [], concurrentJobsLimit: null };
  private readonly credentials: CredentialStore;
  private readonly localPaths: LocalPathPolicy;
  private readonly jobs: JobRunner;
  /** The recent jobs for the UI, pushed as `jobsChanged`. */
  private readonly jobHistory: JobHistory;
  private lastJobsEmitted = '';
  /** Armed while the channel is down: past the heartbeat timeout the control plane has re-queued our jobs. */
  private channelLostTimer: NodeJS.Timeout | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private readonly proxy: ProxyService;
  private readonly certificates: CertificateStore;
  private readonly remoteAccess: RemoteAccessService;
  /** Loaded (or created) on registration and when the channel opens; dropped when secrets are wiped. */
  private peerKey: PeerKey | null = null;
  private readonly peerSync: PeerSync;
  private readonly backups: BackupService;

  constructor(private readonly options: HostServiceOptions) {
    this.log = options.logger.child('host');
    this.startedAt = this.now().toISOString();
    this.backups = new BackupService({
      dataDir: options.dataDir,
      config: options.config,
      vault: options.vault,
      version: options.version,
      log: options.logger.child('backup'),
      clock: () => this.now(),
    });
    this.certificates = new CertificateStore({
      dataDir: options.dataDir,
      vault: options.vault,
      fqdn: options.fqdn,
      // One certificate serves every node of the IR, so it must name them all.
      otherFqdns: () =>
        this.irNodes.map((n) => n.fqdn).filter((fqdn) => fqdn.toLowerCase() !== options.fqdn.toLowerCase()),
      clock: () => this.now(),
    });
    this.remoteAccess = new RemoteAccessService({
      config: options.config,
      fqdn: options.fqdn,
      advertiseHost: options.advertiseHost,
      log: options.logger.child('remote-access'),
      certificates: { tlsMaterialFor: (thumbprint) => this.usableCertificate(thumbprint) },
      listener: new RemoteAccessListener({
        bindHost: options.remoteAccessBind ?? '0.0.0.0',
        log: options.logger.child('remote-access'),
        health: () => ({
          nodeName: this.registration?.nodeName ?? null,
          irName: this.registration?.irName ?? null,
          version: options.version,
          state: this.report(false).status,
        }),
        encrypt: (value) => new CredentialCipher(options.vault).encrypt(value),
        peerSync: (body) => this.peerSync.answer(body),
      }),
    });
    this.proxy = new ProxyService({
      config: options.config,
      vault: options.vault,
      redactor: options.redactor,
      system: options.systemProxy ?? environmentProxyResolver(),
      log: options.logger.child('proxy'),
    });
    this.credentials = new CredentialStore({
      dataDir: options.dataDir,
      vault: options.vault,
      clock: () => this.now(),
      onSecret: (secret) => options.redactor.add(secret),
      origin: () => this.registration?.nodeId ?? '',
      onRejected: (name, reason) =>
        this.log.warn(
          `Kept this node's credential "${name}": the synced version is not valid here. ${reason}`,
        ),
    });
    this.peerSync = new PeerSync({
      credentials: this.credentials,
      self: () =>
        this.registration ? { irId: this.registration.irId, nodeId: this.registration.nodeId } : null,
      key: () => this.loadPeerKey(),
      nodes: () => this.irNodes,
      log: options.logger.child('peer-sync'),
      intervalMs: options.peerSyncIntervalMs ?? 30_000,
      onReachability: (reachable) => {
        this.log[reachable ? 'info' : 'warn'](
          reachable
            ? 'All Online peers are reachable again.'
            : 'Cannot reach every Online peer over remote access; this node is Limited until it can.',
        );
        // The control plane shows Limited from the heartbeat: send it now, not at the next interval.
        this.channel?.heartbeatNow();
        this.publish();
      },
      onMerged: () => void this.publishCredentials(),
    });
    this.localPaths = new LocalPathPolicy(async () => this.jobsConfig.allowedFolders);
    this.jobHistory = new JobHistory({ onChange: () => this.publishJobs() });
    this.jobs = new JobRunner({
      log: options.logger.child('jobs'),
      send: (message) => {
        this.jobHistory.sent(message);
        return this.channel?.send(message) ?? false;
      },
      onChange: () => {
        this.publish();
        this.publishJobs();
      },
      ends: {
        openSource: (source, signal) =>
          openSource(
            {
              credentials: this.credentials,
              paths: this.localPaths,
              connector: () => this.proxy.connector(),
            },
            source,
            signal,
          ),
        openSink: (request) => this.openSink(request),
      },
    });
  }

  /** Loads the registration and starts the service, as the OS service would at boot. */
  async init({ startService = true } = {}): Promise<void> {
    await this.loadConfig();
    this.options.logger.onEntry((entry) => this.events.emit('log', entry));
    // Pushed, so the UI shows live CPU and memory without polling.
    this.sampler = setInterval(() => this.events.emit('systemSampled', this.options.metrics.sample()), 2000);
    this.sampler.unref();
    if (startService) await this.startService();
  }

  async getStatus(): Promise<StatusReport> {
    return this.report(true);
  }

  async register(input: OperationInput<'register'>): Promise<StatusReport> {
    if (this.registration && !input.replace) {
      throw new OpenIrError(
        'ALREADY_REGISTERED',
        `This node is already registered as "${this.registration.nodeName}" in the integration runtime "${this.registration.irName}" (${this.registration.endpoint}).`,
        {
          fix: 'Back up this node first (`openir backup --out node.openir-backup --password-stdin`, or Settings › Back up), then register again with `--replace` (it removes this node from its control plane first), or `openir unregister` and register.',
        },
      );
    }
    if (this.registering) {
      throw new OpenIrError(
        'REGISTRATION_IN_PROGRESS',
        'A registration is already in progress on this node.',
        {
          fix: 'Wait for it to finish, then check `openir status`.',
        },
      );
    }
    if (!this.serviceRunning) {
      throw new OpenIrError(
        'SERVICE_STOPPED',
        'The Integration Runtime Host Service is stopped on this machine.',
        {
          fix: 'Start it (`openir start`) and register again.',
        },
      );
    }
    const key = parseAuthKey(input.authKey);
    if (this.registration && input.replace) {
      // Only now, with the new key checked and the service running, is the old registration given up.
      // This machine's data store credentials stay for the new registration (the user asked for it).
      await this.unregister({}, { keepCredentials: true });
    }
    this.options.redactor.add(key.secret);
    // Set up first, so a port in use or an unusable certificate stops registration before it starts.
    if (input.remoteAccess) await this.remoteAccess.set(input.remoteAccess, 0, this.serviceRunning);
    const nodeName = input.nodeName ?? defaultNodeName(this.options.fqdn);
    this.registering = true;
    this.lastError = null;
    this.publish();
    this.log.info('Registering with the control plane.', {
      irName: key.irName,
      endpoint: key.endpoint,
      nodeName,
    });
    try {
      const connector = this.proxy.connector();
      const { caPem } = await probeControlPlane(key.endpoint, key.pin, connector);
      const tls = pinnedTlsOptions(caPem, key.pin);
      const answer = await registerWithControlPlane(key.endpoint, tls, connector, {
        irId: key.irId,
        secret: key.secret,
        nodeName,
        fqdn: this.options.fqdn,
        version: this.options.version,
        platform: `${process.platform}-${process.arch}`,
        remoteAccessUrl: this.remoteAccess.url,
        remoteAccessCertSha256: this.remoteAccess.certSha256,
        peerKey: (await this.loadPeerKey()).publicKey,
      });
      this.options.redactor.add(answer.nodeCredential);
      await this.options.vault.set(NODE_CREDENTIAL, answer.nodeCredential);
      const registration: Registration = {
        irId: answer.irId,
        irName: answer.irName,
        nodeId: answer.nodeId,
        nodeName: answer.nodeName,
        fqdn: this.options.fqdn,
        endpoint: key.endpoint,
        pin: key.pin,
        controlPlaneCaPem: caPem,
        registeredAt: this.now().toISOString(),
        heartbeatIntervalMs: answer.heartbeatIntervalMs,
        heartbeatTimeoutMs: answer.heartbeatTimeoutMs,
      };
      await this.options.config.update((draft) => {
        draft.registration = registration;
      });
      this.registration = registration;
      this.log.info('Registered.', {
        irName: answer.irName,
        nodeName: answer.nodeName,
        nodeId: answer.nodeId,
      });
    } catch (error) {
      const failure =
        error instanceof OpenIrError
          ? error
          : new OpenIrError('INTERNAL', 'Registration failed unexpectedly.', { cause: error });
      this.lastError = failure;
      this.log.error(`Registration failed: ${failure.message}`, {
        code: failure.code,
        cause: String(failure.cause ?? ''),
      });
      throw failure;
    } finally {
      this.registering = false;
      this.publish();
    }
    await this.openChannel();
    await this.waitForSettled(this.options.registerSettleMs ?? 5000);
    return this.report(true);
  }

  async startService(): Promise<StatusReport> {
    if (!this.serviceRunning) {
      this.serviceRunning = true;
      this.log.info('Runtime host service started.');
      const failure = await this.remoteAccess.start();
      if (failure) this.lastError = failure;
      this.publish();
      await this.openChannel();
    }
    return this.report(true);
  }

  async stopService(): Promise<StatusReport> {
    if (this.serviceRunning) {
      this.serviceRunning = false;
      this.jobs.cancelAll('The Integration Runtime Host Service stopped.');
      await this.closeChannel();
      await this.remoteAccess.stop();
      this.log.info('Runtime host service stopped.');
      this.publish();
    }
    return this.report(true);
  }

  async restartService(): Promise<StatusReport> {
    await this.stopService();
    return this.startService();
  }

  async getLogs(input: {
    limit?: number | undefined;
    minLevel?: LogLevel | undefined;
  }): Promise<OperationOutput<'getLogs'>> {
    return {
      entries: this.options.logger.tail(input.limit ?? 200, input.minLevel ?? 'debug'),
      level: this.options.logger.minLevel,
    };
  }

  async setLogLevel(input: { level: LogLevel }): Promise<OperationOutput<'setLogLevel'>> {
    await this.options.config.update((draft) => {
      draft.logLevel = input.level;
    });
    this.options.logger.setLevel(input.level);
    this.log.info(`Log level set to ${input.level}.`);
    return { level: input.level };
  }

  async getProxy(): Promise<ProxyView> {
    return this.proxy.view(this.registration?.endpoint ?? null);
  }

  async setProxy(input: ProxyInput): Promise<ProxyView> {
    await this.proxy.save(input);
    // As in the reference product, a new proxy takes effect by restarting the host service.
    if (this.serviceRunning) await this.restartService();
    return this.getProxy();
  }

  async testProxy(input: OperationInput<'testProxy'>): Promise<ProxyTestReport> {
    const target =
      input.target ??
      (this.registration ? { endpoint: this.registration.endpoint, pin: this.registration.pin } : null);
    if (!target) {
      throw new OpenIrError('INVALID_INPUT', 'There is no control plane to test against yet.', {
        fix: 'Paste the authentication key first (its endpoint is tested), or register the node.',
      });
    }
    return this.proxy.test(input.proxy, target);
  }

  async listCertificates(): Promise<OperationOutput<'listCertificates'>> {
    return { fqdn: this.options.fqdn, certificates: await this.certificates.list() };
  }

  async listSystemCertificates(): Promise<OperationOutput<'listSystemCertificates'>> {
    return this.certificates.listSystem();
  }

  async inspectCertificate(input: OperationInput<'inspectCertificate'>): Promise<CertificateInfo> {
    return this.certificates.inspect(Buffer.from(input.content, 'base64'), input.password);
  }

  async importCertificate(input: OperationInput<'importCertificate'>): Promise<StoredCertificate> {
    const stored = await this.certificates.import(Buffer.from(input.content, 'base64'), input.password, {
      trust: input.trust ?? false,
    });
    this.log.info('Certificate imported.', {
      thumbprint: stored.thumbprint,
      subject: stored.subject,
      hasPrivateKey: stored.hasPrivateKey,
      trustAnchor: stored.trustAnchor,
    });
    return stored;
  }

  async createSelfSignedCertificate(
    input: OperationInput<'createSelfSignedCertificate'>,
  ): Promise<StoredCertificate> {
    const stored = await this.certificates.createSelfSigned({
      ...(input.dnsNames ? { dnsNames: input.dnsNames } : {}),
      ...(input.days ? { days: input.days } : {}),
      ...(input.key ? { key: input.key } : {}),
    });
    this.log.info('Self-signed certificate created.', { thumbprint: stored.thumbprint, san: stored.san });
    return stored;
  }

  async exportCertificate(
    input: OperationInput<'exportCertificate'>,
  ): Promise<OperationOutput<'exportCertificate'>> {
    const thumbprint = input.thumbprint;
    if (input.format === 'pem') {
      return { format: 'pem', thumbprint, data: await this.certificates.exportPem(thumbprint) };
    }
    const pfx = await this.certificates.exportPfx(thumbprint, input.password ?? '');
    this.log.info('Certificate exported as PFX.', { thumbprint });
    return { format: 'pfx', thumbprint, data: pfx.toString('base64') };
  }

  async removeCertificate(input: OperationInput<'removeCertificate'>): Promise<StoredCertificate> {
    const removed = await this.certificates.remove(input.thumbprint);
    this.log.info('Certificate removed.', { thumbprint: removed.thumbprint, subject: removed.subject });
    return removed;
  }

  async setCertificateTrust(input: OperationInput<'setCertificateTrust'>): Promise<StoredCertificate> {
    const stored = await this.certificates.setTrust(input.thumbprint, input.trusted);
    this.log.info(
      input.trusted ? 'Certificate trusted on this node.' : 'Certificate no longer trusted here.',
      {
        thumbprint: stored.thumbprint,
      },
    );
    return stored;
  }

  async getRemoteAccess(): Promise<RemoteAccessView> {
    return this.remoteAccess.view(this.irNodes.length);
  }

  async setRemoteAccess(input: RemoteAccessSettings): Promise<RemoteAccessView> {
    await this.remoteAccess.set(input, this.irNodes.length, this.serviceRunning);
    // The control plane admits a second node only once it knows this one has remote access: tell it now.
    this.channel?.heartbeatNow();
    return this.getRemoteAccess();
  }

  async listCredentials(): Promise<OperationOutput<'listCredentials'>> {
    return { credentials: await this.credentials.list() };
  }

  async setCredential(input: CredentialInput): Promise<CredentialView> {
    const view = await this.credentials.set(input);
    this.log.info('Data store credential saved.', {
      name: view.name,
      type: view.type,
      version: view.version,
    });
    void this.peerSync.syncNow(`credential "${view.name}" saved`);
    void this.publishCredentials();
    return view;
  }

  /** Pushes the credential list (names and non-secret fields) so an open Settings page follows syncs too. */
  private async publishCredentials(): Promise<void> {
    try {
      this.events.emit('credentialsChanged', { credentials: await this.credentials.list() });
    } catch (error) {
      this.log.warn('The credential list could not be read to tell the UI.', { cause: String(error) });
    }
  }

  /** This node's credential-sync key; created on first use, so upgraded nodes get one too. */
  private async loadPeerKey(): Promise<PeerKey> {
    this.peerKey ??= await PeerKey.load(this.options.vault);
    return this.peerKey;
  }

  async deleteCredential(input: OperationInput<'deleteCredential'>): Promise<CredentialView> {
    const view = await this.credentials.delete(input.name);
    this.log.info('Data store credential deleted.', { name: view.name });
    void this.peerSync.syncNow(`credential "${view.name}" deleted`);
    void this.publishCredentials();
    return view;
  }

  async getJobSettings(): Promise<JobSettingsView> {
    return {
      allowedFolders: [...this.jobsConfig.allowedFolders],
      concurrentJobsLimit: {
        effective: this.jobLimit(),
        configured: this.jobsConfig.concurrentJobsLimit,
        default: this.defaultJobLimit,
      },
    };
  }

  async allowFolder(input: OperationInput<'allowFolder'>): Promise<JobSettingsView> {
    const real = await realFolder(input.path);
    await this.updateJobsConfig((jobs) => {
      if (!jobs.allowedFolders.includes(real)) jobs.allowedFolders.push(real);
    });
    this.log.info('Folder allowed for jobs.', { folder: real });
    return this.getJobSettings();
  }

  async disallowFolder(input: OperationInput<'disallowFolder'>): Promise<JobSettingsView> {
    // The folder may be gone by now; match the stored real path or the path as given.
    const real = await realFolder(input.path).catch(() => path.resolve(input.path));
    const before = this.jobsConfig.allowedFolders.length;
    await this.updateJobsConfig((jobs) => {
      jobs.allowedFolders = jobs.allowedFolders.filter((f) => f !== real && f !== path.resolve(input.path));
    });
    if (this.jobsConfig.allowedFolders.length === before) {
      throw new OpenIrError('NOT_FOUND', `${input.path} is not on the allow-list.`, {
        fix: 'See the allowed folders with `openir config show`.',
      });
    }
    this.log.info('Folder no longer allowed for jobs.', { folder: real });
    return this.getJobSettings();
  }

  async setConcurrentJobsLimit(input: OperationInput<'setConcurrentJobsLimit'>): Promise<JobSettingsView> {
    await this.updateJobsConfig((jobs) => {
      jobs.concurrentJobsLimit = input.limit;
    });
    this.log.info('Concurrent jobs limit set.', { limit: this.jobLimit(), configured: input.limit });
    // The control plane assigns by this limit: tell it now, not at the next heartbeat.
    this.channel?.heartbeatNow();
    this.publish();
    this.publishJobs();
    return this.getJobSettings();
  }

  async getJobs(): Promise<JobsView> {
    return this.jobsView();
  }

  async createBackup(input: OperationInput<'createBackup'>): Promise<OperationOutput<'createBackup'>> {
    this.options.redactor.add(input.password);
    const made = await this.backups.create(input.password);
    this.log.info('Backup made.', { files: made.files, secrets: made.secrets });
    const name = (made.info.node?.name ?? 'unregistered').replace(/[^A-Za-z0-9._-]/g, '-');
    return {
      fileName: `openir-${name}-${made.info.createdAt.slice(0, 10)}${BACKUP_EXTENSION}`,
      content: made.file.toString('base64'),
      info: made.info,
      contents: { files: made.files, secrets: made.secrets },
    };
  }

  async inspectBackup(input: OperationInput<'inspectBackup'>): Promise<OperationOutput<'inspectBackup'>> {
    return this.backups.inspect(Buffer.from(input.content, 'base64'));
  }

  async restoreBackup(input: OperationInput<'restoreBackup'>): Promise<OperationOutput<'restoreBackup'>> {
    this.options.redactor.add(input.password);
    const file = Buffer.from(input.content, 'base64');
    const info = this.backups.inspect(file);
    const current = this.registration;
    if (current && !input.replace) {
      throw new OpenIrError(
        'ALREADY_REGISTERED',
        `This node is already registered as "${current.nodeName}" in the integration runtime "${current.irName}"; the backup is of ${describeBackup(info)}.`,
        {
          fix: 'Restoring replaces this node’s registration, settings and secrets. Back up this node first if you may need it, then restore with --replace (Settings: tick “Replace this node”).',
        },
      );
    }
    if (this.registering) {
      throw new OpenIrError('REGISTRATION_IN_PROGRESS', 'A registration is in progress on this node.', {
        fix: 'Wait for it to finish, then restore.',
      });
    }
    // Wrong password, damage or an unreadable payload all stop here, before anything is written.
    const opened = await this.backups.open(file, input.password);
    for (const secret of Object.values(opened.secrets)) this.options.redactor.add(secret);
    const wasRunning = this.serviceRunning;
    await this.stopService();
    try {
      await this.backups.apply(opened);
    } catch (error) {
      // `apply` put the old state back; carry on as before.
      await this.loadConfig();
      if (wasRunning) await this.startService();
      throw error;
    }
    await this.loadConfig();
    this.lastError = null;
    // The restored credentials.json is news to an open Settings page, as a sync from a peer would be.
    void this.publishCredentials();
    this.log.info('Backup restored.', {
      nodeName: info.node?.name ?? null,
      irName: info.ir?.name ?? null,
      nodeId: info.node?.id ?? null,
      backedUpAt: info.createdAt,
    });
    await this.startService();
    if (this.registration) await this.waitForSettled(this.options.registerSettleMs ?? 5000);
    return {
      info,
      replaced: current
        ? { nodeName: current.nodeName, irName: current.irName, sameNode: current.nodeId === info.node?.id }
        : null,
      status: this.report(true),
    };
  }

  async unregister(
    input: OperationInput<'unregister'>,
    { keepCredentials = false } = {},
  ): Promise<OperationOutput<'unregister'>> {
    const reg = this.registration;
    if (!reg) {
      throw new OpenIrError('NOT_REGISTERED', 'This node is not registered.', {
        fix: 'Register it with `openir register --key-stdin < key.txt`, or restore a backup.',
      });
    }
    const removeThere = removeNodeCommand(reg.irName, reg.nodeName);
    let controlPlaneRemoved = false;
    let notice: string | null = null;
    try {
      const credential = await this.options.vault.get(NODE_CREDENTIAL);
      if (!credential) {
        throw new OpenIrError('VAULT_UNAVAILABLE', 'The node credential is missing from the secret store.');
      }
      const tls = pinnedTlsOptions(reg.controlPlaneCaPem, reg.pin);
      await removeSelfFromControlPlane(reg.endpoint, tls, this.proxy.connector(), reg.nodeId, credential);
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
    this.jobs.cancelAll('This node was unregistered.');
    await this.closeChannel();
    await this.backups.clearRegistration();
    // Data store credentials belong to the IR (its nodes sync them): they leave with the node, or
    // a later registration elsewhere would hand them to another IR's nodes.
    if (!keepCredentials) {
      await this.credentials.clear();
      void this.publishCredentials();
    }
    // Its vault entry went with the registration; a new registration makes a new key.
    this.peerKey = null;
    this.registration = null;
    this.lastError = null;
    this.log.info('Unregistered.', {
      nodeName: reg.nodeName,
      irName: reg.irName,
      nodeId: reg.nodeId,
      controlPlaneRemoved,
    });
    if (notice && !controlPlaneRemoved) this.log.warn(notice);
    this.publish();
    return {
      controlPlaneRemoved,
      notice,
      node: { id: reg.nodeId, name: reg.nodeName },
      ir: { id: reg.irId, name: reg.irName },
      status: this.report(true),
    };
  }

  /** The config, proxy and remote-access settings from disk: at start-up, and again after a restore. */
  private async loadConfig(): Promise<void> {
    // After a restore, the vault holds the node's own sync key: forget the one this process made.
    this.peerKey = null;
    const config = await this.options.config.load();
    this.options.logger.setLevel(config.logLevel);
    this.registration = config.registration;
    this.jobsConfig = config.jobs;
    await this.proxy.load();
    await this.remoteAccess.load();
  }

  private jobsView(): JobsView {
    return { running: this.jobs.running, limit: this.jobLimit(), recent: this.jobHistory.recent };
  }

  /** Pushes jobsChanged when running/limit or a recent job changed. */
  private publishJobs(): void {
    this.jobHistory.reported();
    const view = this.jobsView();
    const key = JSON.stringify(view);
    if (key === this.lastJobsEmitted) return;
    this.lastJobsEmitted = key;
    this.events.emit('jobsChanged', view);
  }

  private async updateJobsConfig(change: (jobs: JobsConfig) => void): Promise<void> {
    const saved = await this.options.config.update((draft) => change(draft.jobs));
    this.jobsConfig = saved.jobs;
  }

  private jobLimit(): number {
    return this.jobsConfig.concurrentJobsLimit ?? this.defaultJobLimit;
  }

  private async openSink(request: CopyRequest): Promise<OpenedSink> {
    if (request.sink.type === 'credential') {
      const credential = await this.credentials.resolve(request.sink.credential, ['localFolder']);
      if (credential.type !== 'localFolder')
        throw new OpenIrError('CREDENTIAL_TYPE_MISMATCH', 'Unreachable.');
      return openLocalFileSink(this.localPaths, credential.root, request.sink.path);
    }
    const registration = this.registration;
    const nodeCredential = await this.options.vault.get(NODE_CREDENTIAL);
    if (!registration || !nodeCredential) {
      throw new OpenIrError('NOT_REGISTERED', 'This node is not registered, so it cannot upload to staging.');
    }
    return openStagingSink(
      {
        endpoint: registration.endpoint,
        tls: pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin),
        connector: this.proxy.connector(),
        nodeId: registration.nodeId,
        credential: nodeCredential,
      },
      request.jobId,
      request.attempt,
    );
  }

  /** A certificate from the store that meets the TLS requirements for this node, ready for the listener. */
  private async usableCertificate(thumbprint: string): Promise<TlsMaterial & { warnings: string[] }> {
    const wanted = normalizeThumbprint(thumbprint);
    const stored = (await this.certificates.list()).find(
      (c) => c.thumbprint === wanted || c.thumbprintSha256 === wanted,
    );
    if (!stored) {
      throw new OpenIrError(
        'CERTIFICATE_NOT_USABLE',
        `No certificate with thumbprint ${thumbprint} in this node's store.`,
        {
          fix: 'Import one or generate a self-signed certificate first (`openir cert list`).',
        },
      );
    }
    // Other nodes trusting it is their part (import it into their stores); everything else must hold here.
    const blocking = stored.problems.filter((p) => p.code !== 'UNTRUSTED');
    if (blocking.length > 0) {
      throw new OpenIrError(
        'CERTIFICATE_NOT_USABLE',
        `The certificate "${stored.subject}" cannot be used for remote access: ${blocking.map((p) => `${p.code}: ${p.message}`).join(' ')}`,
        { fix: blocking.map((p) => p.fix).join(' ') },
      );
    }
    const credentials = await this.certificates.serverCredentials(stored.thumbprintSha256);
    const warnings = [...stored.problems, ...stored.warnings].map((p) => `${p.message} ${p.fix}`);
    return {
      certPem: [credentials.certPem, ...credentials.chainPem].join('\n'),
      keyPem: credentials.keyPem,
      warnings,
    };
  }

  /** Stops everything before the process exits. */
  async shutdown(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    this.jobHistory.stop();
    if (this.channelLostTimer) clearTimeout(this.channelLostTimer);
    this.jobs.cancelAll('The OpenIR host is shutting down.');
    await this.remoteAccess.stop();
    await this.closeChannel();
    this.serviceRunning = false;
  }

  private async openChannel(): Promise<void> {
    const registration = this.registration;
    if (!registration || !this.serviceRunning || this.channel) return;
    let credential: string | null;
    try {
      credential = await this.options.vault.get(NODE_CREDENTIAL);
    } catch (error) {
      this.lastError =
        error instanceof OpenIrError
          ? error
          : new OpenIrError('VAULT_UNAVAILABLE', 'The node credential could not be read.');
      this.channelState = 'unreachable';
      this.publish();
      return;
    }
    if (!credential) {
      this.lastError = new OpenIrError(
        'VAULT_UNAVAILABLE',
        'The node credential is missing from the secret store.',
        {
          fix: 'The secret store was reset; restore the node from a backup or register it again in a new data directory.',
        },
      );
      this.channelState = 'unreachable';
      this.publish();
      return;
    }
    this.options.redactor.add(credential);
    let peerKey: PeerKey | null = null;
    try {
      peerKey = await this.loadPeerKey();
    } catch (error) {
      // Without it this node cannot sync credentials, but it can still run jobs: say so, carry on.
      this.log.error('The credential-sync key could not be read or created; credentials will not sync.', {
        cause: String(error),
      });
    }
    if (this.channel || !this.serviceRunning) return;
    const tls = pinnedTlsOptions(registration.controlPlaneCaPem, registration.pin);
    this.channel = new ControlChannel({
      endpoint: registration.endpoint,
      createConnection: this.proxy.connector().createConnection(registration.endpoint, tls),
      nodeId: registration.nodeId,
      credential,
      heartbeatIntervalMs: registration.heartbeatIntervalMs,
      heartbeatTimeoutMs: registration.heartbeatTimeoutMs,
      reconnectMinMs: this.options.reconnectMinMs ?? 500,
      reconnectMaxMs: this.options.reconnectMaxMs ?? 30_000,
      log: this.options.logger.child('control-channel'),
      credentialRejected: () => removedNode(registration),
      heartbeat: () => {
        const system = this.options.metrics.sample();
        return {
          runningJobs: this.jobs.running,
          jobLimit: this.jobLimit(),
          ...system,
          peersReachable: this.peerSync.peersReachable,
          remoteAccessUrl: this.remoteAccess.url,
          remoteAccessCertSha256: this.remoteAccess.certSha256,
          peerKey: peerKey?.publicKey ?? null,
          activeJobIds: this.jobs.activeJobIds,
        };
      },
      onState: (state, error) => {
        const wasOpen = this.channelState === 'open';
        this.channelState = state;
        if (state === 'open') {
          this.connectedSince = this.now().toISOString();
          this.lastError = null;
          this.peerSync.start();
        } else if (wasOpen || state === 'idle') {
          this.connectedSince = null;
          // What the control plane said about the IR is only true while connected to it.
          this.irNodes = [];
        }
        if (error) this.lastError = error;
        this.watchChannelForJobs(state, registration.heartbeatTimeoutMs);
        this.publish();
      },
      onIrSummary: (ir) => {
        this.irNodes = ir.nodes;
        // A joiner receives every credential; the others learn where a new peer is and its key.
        this.peerSync.peersChanged();
        this.publish();
      },
      onJobMessage: (message) => {
        this.jobHistory.received(message);
        this.jobs.handle(message);
      },
    });
    this.channel.start();
  }

  /**
   * Once the channel has been down for the heartbeat timeout, the control
   * plane has re-queued this node's jobs; running them on would run them twice.
   */
  private watchChannelForJobs(state: ChannelState, heartbeatTimeoutMs: number): void {
    if (state === 'open') {
      if (this.channelLostTimer) clearTimeout(this.channelLostTimer);
      this.channelLostTimer = null;
      this.jobs.flush();
      return;
    }
    if (this.channelLostTimer || this.jobs.running === 0) return;
    this.channelLostTimer = setTimeout(() => {
      this.channelLostTimer = null;
      if (this.channelState !== 'open') {
        this.jobs.cancelAll(
          'The control channel was down longer than the heartbeat timeout; the control plane re-queues the job.',
        );
      }
    }, heartbeatTimeoutMs);
    this.channelLostTimer.unref();
  }

  private async closeChannel(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    if (channel) await channel.stop();
    await this.peerSync.stop();
    this.channelState = 'idle';
    this.connectedSince = null;
    this.irNodes = [];
  }

  private waitForSettled(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const settled = () => this.channelState === 'open' || this.channelState === 'unreachable';
      if (settled()) return resolve();
      const timer = setTimeout(done, timeoutMs);
      const off = this.events.on('statusChanged', () => settled() && done());
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  private report(sampleSystem: boolean): StatusReport {
    const reg = this.registration;
    const system = sampleSystem
      ? this.options.metrics.sample()
      : { cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: os.totalmem() };
    return {
      status: deriveNodeStatus({
        serviceRunning: this.serviceRunning,
        registered: reg !== null,
        registering: this.registering,
        channel: this.channelState,
        peersReachable: this.peerSync.peersReachable,
      }),
      registered: reg !== null,
      serviceRunning: this.serviceRunning,
      version: this.options.version,
      ir: reg ? { id: reg.irId, name: reg.irName } : null,
      node: reg ? { id: reg.nodeId, name: reg.nodeName, fqdn: reg.fqdn } : null,
      controlPlane: reg ? { endpoint: reg.endpoint } : null,
      connectedSince: this.connectedSince,
      lastError: (this.lastError ?? this.peerSync.problem)?.toBody() ?? null,
      jobs: { running: this.jobs.running, limit: this.jobLimit() },
      system,
      vault: this.options.vault.backend,
      irNodes: reg ? this.irNodes : [],
      host: { pid: process.pid, dataDir: this.options.dataDir, startedAt: this.startedAt },
    };
  }

  /** Pushes statusChanged when anything but the live CPU/memory sample changed. */
  private publish(): void {
    const report = this.report(false);
    const key = JSON.stringify({ ...report, system: null });
    if (key === this.lastEmitted) return;
    this.lastEmitted = key;
    this.events.emit('statusChanged', report);
  }

  private now(): Date {
    return (this.options.clock ?? (() => new Date()))();
  }
}

/** The real path of an existing folder, for the allow-list; jobs are checked against real paths too. */
async function realFolder(folder: string): Promise<string> {
  if (!path.isAbsolute(folder)) {
    throw new OpenIrError('INVALID_INPUT', `${folder} is not an absolute path.`, {
      fix: 'Give the full path of the folder.',
    });
  }
  let real: string;
  try {
    real = await fs.realpath(folder);
  } catch (error) {
    throw new OpenIrError('NOT_FOUND', `There is no folder ${folder} on this node.`, {
      fix: 'Create it first, or check the path.',
      cause: error,
    });
  }
  if (!(await fs.stat(real)).isDirectory()) {
    throw new OpenIrError('INVALID_INPUT', `${folder} is a file, not a folder.`, {
      fix: 'Allow the folder that holds it.',
    });
  }
  return real;
}

/** What a node hears when its control plane no longer knows it: it was removed there. */
function removedNode(reg: Registration): OpenIrError {
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
