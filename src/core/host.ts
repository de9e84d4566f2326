import type { HostApi, StatusReport } from '../shared/contract';
import type { IrNodeInfo } from '../shared/controlPlaneApi';
import { OpenIrError } from '../shared/errors';
import { BackupService } from './backup/service';
import { BackupWorkflow } from './backupWorkflow';
import { CertificateService } from './certificates/service';
import { NODE_CREDENTIAL } from './controlPlaneClient';
import { CredentialCipher } from './credentialCipher';
import { CredentialTester } from './credentialTest';
import { CredentialService } from './credentialService';
import { DiagnosticsBundleService, vaultSecrets, type DiagnosticsSection } from './diagnosticsBundle';
import { renderTroubleshootHtml, type TroubleshootReport } from '../shared/troubleshoot';
import { uploadDiagnostics } from './diagnosticsUpload';
import { HostEvents } from './events';
import type { HostServiceOptions } from './hostOptions';
import { JobService } from './jobs/jobService';
import type { SourceLogger } from './logger';
import { LogSettings } from './logSettings';
import { dataPaths } from './paths';
import { environmentProxyResolver } from './proxyRoute';
import { ProxyService } from './proxyService';
import { RemoteAccessListener } from './remoteAccess';
import { RemoteAccessService } from './remoteAccessService';
import { CurrentSession } from './session/currentSession';
import { RegistrationService, removedNode } from './session/registrationService';
import { StatusModel } from './statusModel';
import { TroubleshootService } from './troubleshoot';

export type { HostServiceOptions } from './hostOptions';

/**
 * The runtime host service: the composition root of the node. It builds the
 * services, hands each the narrow links it needs to the others, owns the one
 * node session (replaced whole whenever the registration or the service
 * changes), and delegates each contract operation in one line. It knows
 * nothing of Electron, HTTP or the CLI; those are bindings of `HostApi`.
 */
export class HostService implements HostApi {
  readonly events = new HostEvents();
  private readonly log: SourceLogger;
  private readonly status: StatusModel;
  private readonly certificates: CertificateService;
  private readonly remoteAccess: RemoteAccessService;
  private readonly proxy: ProxyService;
  private readonly credentials: CredentialService;
  private readonly jobs: JobService;
  private readonly tester: CredentialTester;
  private readonly registration: RegistrationService;
  private readonly backups: BackupWorkflow;
  private readonly logs: LogSettings;
  private readonly troubleshoot: TroubleshootService;
  private readonly diagnostics: DiagnosticsBundleService;
  /** The node session (registration, control channel, IR): replaced whole, never reset. */
  private readonly node: CurrentSession;
  private serviceRunning = false;
  /** The IR's nodes as last listed, kept when the channel drops: troubleshoot still checks the peers then. */
  private lastIrNodes: { irId: string; nodes: readonly IrNodeInfo[] } | null = null;
  private readonly now: () => Date;
  private sampler: NodeJS.Timeout | null = null;
  /** A drain under way or done (the service stopped by it); cleared when the service starts again. */
  private drainState: NonNullable<StatusReport['drain']> | null = null;

  constructor(private readonly options: HostServiceOptions) {
    const { config, vault, logger, redactor } = options;
    const clock = () => (options.clock ?? (() => new Date()))();
    this.now = clock;
    const push = this.events.pusher.bind(this.events);
    const registered = () => this.node.registration;
    const irNodes = () => this.node.irNodes;
    const heartbeatNow = () => this.node.heartbeatNow();
    const connector = () => this.proxy.connector();
    const serviceRunning = () => this.serviceRunning;
    this.log = logger.child('host');
    this.logs = new LogSettings({ config, logger, log: this.log });
    this.certificates = new CertificateService({
      ...options,
      irNodes,
      clock,
      log: this.log,
      push: push('certificatesChanged'),
    });
    this.remoteAccess = new RemoteAccessService({
      ...options,
      log: logger.child('remote-access'),
      certificates: this.certificates,
      irNodeCount: () => irNodes().length,
      serviceRunning,
      heartbeatNow,
      push: push('remoteAccessChanged'),
      listener: new RemoteAccessListener({
        bindHost: options.remoteAccessBind ?? '0.0.0.0',
        log: logger.child('remote-access'),
        health: () => this.status.health(),
        encrypt: (value) => new CredentialCipher(vault).encrypt(value),
        peerSync: (body) => this.credentials.answer(body),
        nodeId: () => registered()?.nodeId ?? null,
      }),
    });
    this.proxy = new ProxyService({
      ...options,
      system: options.systemProxy ?? environmentProxyResolver(),
      log: logger.child('proxy'),
      controlPlane: registered,
      push: push('proxyChanged'),
      serviceRunning,
      restartService: () => this.restartService(),
    });
    this.credentials = new CredentialService({
      ...options,
      clock,
      log: this.log,
      syncLog: logger.child('peer-sync'),
      syncIntervalMs: options.peerSyncIntervalMs ?? 30_000,
      self: registered,
      peerKey: () => this.node.peerKey(),
      nodes: irNodes,
      reachabilityChanged: () => {
        // The control plane shows Limited from the heartbeat: send it now, not at the next interval.
        heartbeatNow();
        this.status.changed();
      },
      push: push('credentialsChanged'),
    });
    this.jobs = new JobService({
      config,
      credentials: this.credentials,
      connector,
      registration: registered,
      nodeCredential: () => vault.get(NODE_CREDENTIAL),
      send: (message) => this.node.send(message),
      heartbeatNow,
      statusChanged: () => this.status.changed(),
      pushJobs: push('jobsChanged'),
      pushSettings: push('jobSettingsChanged'),
      log: this.log,
      jobsLog: logger.child('jobs'),
    });
    this.tester = new CredentialTester({
      credentials: this.credentials,
      paths: this.jobs.localPaths,
      connector,
      log: logger.child('credential-test'),
      clock,
    });
    this.status = new StatusModel({
      ...options,
      startedAt: clock().toISOString(),
      serviceRunning,
      registering: () => this.registration.registering,
      session: () => this.node.facts,
      peers: this.credentials,
      jobs: this.jobs,
      drain: () => this.drainState,
      now: () => clock().getTime(),
      push: push('statusChanged'),
    });
    this.node = new CurrentSession({
      ...options,
      connector,
      log: this.log,
      channelLog: logger.child('control-channel'),
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
      settleMs: options.registerSettleMs ?? 5000,
      clock,
      serviceRunning,
      jobs: this.jobs,
      remoteAccess: this.remoteAccess,
      sync: this.credentials,
      credentialRejected: removedNode,
      version: options.version,
      drain: () => void this.startDrain('controlPlane').catch(() => undefined),
      status: this.status,
      registrationChanged: async () => {
        await Promise.all([this.proxy.refresh(), this.remoteAccess.refresh(), this.certificates.refresh()]);
      },
      // Remote access may change only with one node; a certificate must name every node.
      irNodesChanged: () => {
        const irId = registered()?.irId;
        if (irId && irNodes().length > 0) this.lastIrNodes = { irId, nodes: irNodes() };
        void Promise.all([this.remoteAccess.refresh(), this.certificates.refresh()]);
      },
    });
    const backups = new BackupService({ ...options, log: logger.child('backup'), clock });
    this.registration = new RegistrationService({
      ...options,
      clock,
      log: this.log,
      connector,
      serviceRunning,
      remoteAccess: this.remoteAccess,
      peerKey: () => this.node.peerKey(),
      status: this.status,
      session: this.node,
      jobs: this.jobs,
      clearRegistration: () => backups.clearRegistration(),
      clearCredentials: () => this.credentials.clear(),
    });
    this.backups = new BackupWorkflow({
      backups,
      redactor,
      log: this.log,
      registration: this.registration,
      serviceRunning,
      startService: () => this.startService(),
      stopService: () => this.stopService(),
      loadConfig: () => this.loadConfig(),
      status: this.status,
      credentials: this.credentials,
      session: this.node,
    });
    this.troubleshoot = new TroubleshootService({
      ...options,
      log: logger.child('troubleshoot'),
      clock,
      registration: registered,
      connector,
      testProxy: (target) => this.proxy.test(undefined, target),
      serviceRunning,
      roundTrip: (timeoutMs) => this.node.roundTrip(timeoutMs),
      irNodes,
      lastIrNodes: () =>
        this.lastIrNodes?.irId === registered()?.irId ? (this.lastIrNodes?.nodes ?? []) : [],
      checkPeer: (peer) => this.credentials.checkPeer(peer),
      remoteAccess: () => ({ url: this.remoteAccess.url, certSha256: this.remoteAccess.certSha256 }),
      credentials: () => this.credentials.list(),
      testCredential: (name) => this.tester.test({ name }),
    });
    this.diagnostics = new DiagnosticsBundleService({
      version: options.version,
      clock,
      log: this.log,
      logsDir: dataPaths(options.dataDir).logsDir,
      config: () => config.load(),
      status: async () => this.status.report(true),
      jobs: async () => this.jobs.view(),
      certificates: () => this.certificates.list(),
      proxy: () => this.proxy.view(),
      credentials: () => this.credentials.list(),
      knownSecrets: async () => [...(await vaultSecrets(options.dataDir, vault)), ...redactor.known()],
      send: (id, zip) =>
        uploadDiagnostics({ registration: registered(), vault, connector: connector() }, id, zip),
      // One troubleshoot run per bundle, written twice: as data and as the offline HTML page.
      sections: troubleshootSections(() => this.troubleshoot.run({})),
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
    return this.status.report(true);
  }

  async startService(): Promise<StatusReport> {
    if (!this.serviceRunning) {
      this.serviceRunning = true;
      this.drainState = null;
      this.jobs.endDrain();
      this.log.info('Runtime host service started.');
      const failure = await this.remoteAccess.start();
      if (failure) this.status.setProblem(failure);
      this.status.changed();
      await this.node.connect();
    }
    return this.status.report(true);
  }

  async stopService(): Promise<StatusReport> {
    if (this.serviceRunning) {
      this.serviceRunning = false;
      this.jobs.cancelAll('The Integration Runtime Host Service stopped.');
      await this.node.close();
      await this.remoteAccess.stop();
      this.log.info('Runtime host service stopped.');
      this.status.changed();
    }
    return this.status.report(true);
  }

  async restartService(): Promise<StatusReport> {
    await this.stopService();
    return this.startService();
  }

  drain: HostApi['drain'] = () => this.startDrain('node');

  /**
   * Takes no new jobs, lets the running ones finish, then stops the service
   * (the base of a rolling update: one node of an IR at a time). Answers at
   * once; the status shows the drain and, at the end, the service Stopped.
   * Asking again while it drains changes nothing.
   */
  private async startDrain(requestedBy: 'node' | 'controlPlane'): Promise<StatusReport> {
    if (!this.serviceRunning) {
      throw new OpenIrError(
        'SERVICE_STOPPED',
        'The runtime host service is stopped: there is nothing to drain.',
        {
          fix: 'Start it with `openir start` if jobs should run here again.',
        },
      );
    }
    if (this.drainState?.state === 'draining') return this.status.report(true);
    const drain = { state: 'draining' as const, startedAt: this.now().toISOString(), requestedBy };
    this.drainState = drain;
    this.jobs.startDrain();
    // The control plane gives a draining node nothing new: tell it now, not at the next heartbeat.
    this.node.heartbeatNow();
    this.log.info('Draining: no new jobs; the service stops once the running jobs finish.', {
      running: this.jobs.running,
      requestedBy,
    });
    this.status.changed();
    void this.jobs.whenIdle().then(async () => {
      // Started again (or stopped by hand) meanwhile: this drain is over.
      if (this.drainState !== drain) return;
      await this.stopService();
      if (this.drainState !== drain) return;
      this.drainState = { ...drain, state: 'stopped' };
      this.log.info('Drained: every running job finished; the runtime host service stopped.');
      this.status.changed();
    });
    return this.status.report(true);
  }

  register: HostApi['register'] = (input) => this.registration.register(input);
  unregister: HostApi['unregister'] = (input) => this.registration.unregister(input);
  getLogs: HostApi['getLogs'] = async (input) => this.logs.get(input);
  setLogLevel: HostApi['setLogLevel'] = (input) => this.logs.setLevel(input);
  getProxy: HostApi['getProxy'] = () => this.proxy.view();
  setProxy: HostApi['setProxy'] = (input) => this.proxy.change(input);
  testProxy: HostApi['testProxy'] = (input) => this.proxy.test(input.proxy, input.target);
  listCertificates: HostApi['listCertificates'] = () => this.certificates.list();
  listSystemCertificates: HostApi['listSystemCertificates'] = async () => this.certificates.listSystem();
  inspectCertificate: HostApi['inspectCertificate'] = (input) => this.certificates.inspect(input);
  importCertificate: HostApi['importCertificate'] = (input) => this.certificates.import(input);
  createSelfSignedCertificate: HostApi['createSelfSignedCertificate'] = (input) =>
    this.certificates.createSelfSigned(input);
  exportCertificate: HostApi['exportCertificate'] = (input) => this.certificates.export(input);
  removeCertificate: HostApi['removeCertificate'] = (input) => this.certificates.remove(input);
  setCertificateTrust: HostApi['setCertificateTrust'] = (input) => this.certificates.setTrust(input);
  getRemoteAccess: HostApi['getRemoteAccess'] = async () => this.remoteAccess.view();
  setRemoteAccess: HostApi['setRemoteAccess'] = (input) => this.remoteAccess.change(input);
  listCredentials: HostApi['listCredentials'] = () => this.credentials.list();
  setCredential: HostApi['setCredential'] = (input) => this.credentials.set(input);
  deleteCredential: HostApi['deleteCredential'] = (input) => this.credentials.delete(input);
  testCredential: HostApi['testCredential'] = (input) => this.tester.test(input);
  runTroubleshoot: HostApi['runTroubleshoot'] = (input) => this.troubleshoot.run(input);
  getJobSettings: HostApi['getJobSettings'] = async () => this.jobs.settingsView();
  allowFolder: HostApi['allowFolder'] = (input) => this.jobs.allowFolder(input);
  disallowFolder: HostApi['disallowFolder'] = (input) => this.jobs.disallowFolder(input);
  setConcurrentJobsLimit: HostApi['setConcurrentJobsLimit'] = (input) =>
    this.jobs.setConcurrentJobsLimit(input);
  getJobs: HostApi['getJobs'] = async () => this.jobs.view();
  createBackup: HostApi['createBackup'] = (input) => this.backups.create(input);
  inspectBackup: HostApi['inspectBackup'] = async (input) => this.backups.inspect(input);
  restoreBackup: HostApi['restoreBackup'] = (input) => this.backups.restore(input);
  createDiagnosticsBundle: HostApi['createDiagnosticsBundle'] = (input) => this.diagnostics.create(input);

  /** Stops everything before the process exits. */
  async shutdown(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    this.jobs.stop();
    this.jobs.cancelAll('The OpenIR host is shutting down.');
    await this.remoteAccess.stop();
    await this.node.replace(this.node.registration);
    this.serviceRunning = false;
  }

  /** The config, proxy, remote-access and jobs settings from disk: at start-up, and again after a restore. */
  private async loadConfig(): Promise<void> {
    const config = await this.options.config.load();
    this.options.logger.setLevel(config.logLevel);
    // After a restore the vault holds the node's own sync key: the new session reads it, not the old one's.
    await this.node.replace(config.registration);
    await this.jobs.load(config.jobs);
    await this.proxy.load();
    await this.remoteAccess.load();
    await this.certificates.refresh();
  }
}

/** The bundle's troubleshoot.json and troubleshoot.html, from one run of the checks. */
function troubleshootSections(run: () => Promise<TroubleshootReport>): DiagnosticsSection[] {
  // The sections are produced in order: the JSON starts the run, the HTML (last) ends its use.
  let report: Promise<TroubleshootReport> | null = null;
  const once = () => (report ??= run());
  return [
    { path: 'troubleshoot.json', produce: async () => `${JSON.stringify(await once(), null, 2)}\n` },
    {
      path: 'troubleshoot.html',
      produce: async () => {
        try {
          return renderTroubleshootHtml(await once());
        } finally {
          report = null;
        }
      },
    },
  ];
}
