import { createContext, useContext } from 'react';
import { createStore, useStore, type StateCreator, type StoreApi } from 'zustand';
import type { OpenIrApi } from '../shared/api';
import { parseAuthKey } from '../shared/authKey';
import type { LogEntry, LogLevel, OperationOutput, StatusReport, SystemSample } from '../shared/contract';
import type { BackupInfo, CreateBackupOutput } from '../shared/backup';
import { NodeNameSchema } from '../shared/controlPlaneApi';
import type { ProxyInput, ProxyTestReport, ProxyView } from '../shared/proxy';
import type { CertificateInfo, StoredCertificate } from '../shared/certificates';
import type { RemoteAccessSettings, RemoteAccessView } from '../shared/remoteAccess';
import type { CredentialInput, CredentialView, JobSettingsView } from '../shared/credentials';
import type { JobsView } from '../shared/jobs';
import { toUiError, type UiError } from './errors';
import { appendCapped, atLeast, LOG_CAP, mergeLogs, missingFrom, RECENT_CAP } from './logs';
import type { ConnectionState, Transport } from './transport';

/**
 * One store, one slice per concern. The host pushes every change as an event;
 * the store never polls. Operation results are applied too, so the UI is right
 * even when an event was missed.
 */

export type TabId = 'home' | 'settings' | 'diagnostics';
export type ServiceAction = 'startService' | 'stopService' | 'restartService';

export interface StatusSlice {
  report: StatusReport | null;
  loadError: UiError | null;
  serviceAction: ServiceAction | null;
  serviceError: UiError | null;
  registering: boolean;
  registerError: UiError | null;
  refreshStatus(): Promise<void>;
  register(input: {
    authKey: string;
    nodeName: string;
    remoteAccess?: RemoteAccessSettings | undefined;
  }): Promise<boolean>;
  runServiceAction(action: ServiceAction): Promise<void>;
  clearRegisterError(): void;
}

export interface SystemSlice {
  /** Live CPU and memory; `statusChanged` payloads carry no sample, so this is kept apart from `report`. */
  system: SystemSample | null;
}

export interface LogsSlice {
  /** The log viewer's entries, newest last. */
  entries: LogEntry[];
  /** Entries that arrived while the viewer was paused. */
  held: LogEntry[];
  paused: boolean;
  /** Info and above, newest last, for Home. */
  recent: LogEntry[];
  logsError: UiError | null;
  logLevel: LogLevel | null;
  logLevelSaving: boolean;
  logLevelError: UiError | null;
  setPaused(paused: boolean): void;
  clearLogView(): void;
  setLogLevel(level: LogLevel): Promise<void>;
}

export interface ConnectionSlice {
  connection: ConnectionState;
  transportKind: Transport['kind'];
}

export interface UiSlice {
  tab: TabId;
  setTab(tab: TabId): void;
}

/** The control plane a proxy test reaches: the registered one, or the one named in a pasted key. */
export interface ProxyTestTarget {
  endpoint: string;
  pin: string;
}

/**
 * Where the proxy dialog was opened from. From the Register page the test reaches the control plane named
 * in the pasted key (only its endpoint and pin, never the secret); `target` is null when no valid key is
 * pasted yet.
 */
export type ProxyDialogContext = { from: 'settings' } | { from: 'register'; target: ProxyTestTarget | null };

export interface ProxySlice {
  /** The saved setting and the route it gives; the password itself never reaches the UI. */
  proxyView: ProxyView | null;
  proxyLoadError: UiError | null;
  /** The dialog is open while this is set. */
  proxyDialog: ProxyDialogContext | null;
  proxyTesting: boolean;
  /** The last test of the dialog's (unsaved) settings. */
  proxyTest: ProxyTestReport | null;
  proxyTestError: UiError | null;
  proxySaving: boolean;
  proxySaveError: UiError | null;
  /** Where the last successful save was made, until the dialog opens again: that page confirms it. */
  proxySaved: ProxyDialogContext['from'] | null;
  refreshProxy(): Promise<void>;
  openProxyDialog(context: ProxyDialogContext): void;
  closeProxyDialog(): void;
  testProxy(proxy: ProxyInput): Promise<void>;
  clearProxyTest(): void;
  saveProxy(proxy: ProxyInput): Promise<boolean>;
}

export interface RemoteAccessSlice {
  /** The setting, whether it listens, its URL and whether it may change now. */
  remoteAccess: RemoteAccessView | null;
  remoteAccessLoadError: UiError | null;
  /** The dialog is open while this is true. */
  remoteAccessDialog: boolean;
  remoteAccessSaving: boolean;
  remoteAccessSaveError: UiError | null;
  /** Set by a successful save until the dialog opens again: Settings confirms it. */
  remoteAccessSaved: boolean;
  refreshRemoteAccess(): Promise<void>;
  openRemoteAccessDialog(): void;
  closeRemoteAccessDialog(): void;
  saveRemoteAccess(settings: RemoteAccessSettings): Promise<boolean>;
}

export type CertificateRowAction = 'export' | 'trust' | 'remove';

/** The outcome of an operation whose progress and errors belong to the form that started it. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: UiError };

export interface CertificatesSlice {
  /** This node's store, each certificate checked against the TLS requirements for `certificateFqdn`. */
  certificates: StoredCertificate[] | null;
  /** The FQDN the store's certificates are checked for (the default name of a self-signed one). */
  certificateFqdn: string | null;
  certificatesLoadError: UiError | null;
  /** A row action in progress (one at a time). */
  certificateAction: { thumbprint: string; action: CertificateRowAction } | null;
  /** The last row action's failure, with the row it belongs to. */
  certificateActionError: { thumbprint: string; error: UiError } | null;
  /** What the last row action did, in words, for the card's status line. */
  certificateNotice: string | null;
  refreshCertificates(): Promise<void>;
  /** File contents and passwords are passed through, never kept in the store. */
  inspectCertificate(input: { content: string; password?: string }): Promise<Outcome<CertificateInfo>>;
  importCertificate(input: {
    content: string;
    password?: string;
    trust?: boolean;
  }): Promise<Outcome<StoredCertificate>>;
  createSelfSignedCertificate(input: {
    dnsNames?: string[];
    days?: number;
    key?: 'rsa2048' | 'p256';
  }): Promise<Outcome<StoredCertificate>>;
  /** The public PEM, for a download; null after reporting the failure on the row. */
  exportCertificatePem(thumbprint: string): Promise<string | null>;
  setCertificateTrust(thumbprint: string, trusted: boolean): Promise<boolean>;
  removeCertificate(thumbprint: string): Promise<boolean>;
}

export interface JobsSlice {
  /** Running/limit and the recent jobs, newest first: loaded once, then pushed by `jobsChanged`. */
  jobs: JobsView | null;
  jobsLoadError: UiError | null;
  refreshJobs(): Promise<void>;
  /** A pushed `jobsChanged`: newer than any load still under way. */
  receiveJobs(jobs: JobsView): void;
}

export interface JobSettingsSlice {
  /** The allow-list of local folders and the concurrent jobs limit (no event: loaded on connect, after
   * each change here, when Settings opens, and when the limit in the status report changes). */
  jobSettings: JobSettingsView | null;
  jobSettingsLoadError: UiError | null;
  refreshJobSettings(): Promise<void>;
  /** null goes back to the default from cores and memory. */
  setConcurrentJobsLimit(limit: number | null): Promise<Outcome<JobSettingsView>>;
  allowFolder(path: string): Promise<Outcome<JobSettingsView>>;
  disallowFolder(path: string): Promise<Outcome<JobSettingsView>>;
}

export interface CredentialsSlice {
  /** Names and non-secret fields only; a secret never reaches the UI (only whether one is saved). */
  credentials: CredentialView[] | null;
  credentialsLoadError: UiError | null;
  refreshCredentials(): Promise<void>;
  /** Secrets in `input` are passed through to the host, never kept in the store. */
  saveCredential(input: CredentialInput): Promise<Outcome<CredentialView>>;
  deleteCredential(name: string): Promise<Outcome<CredentialView>>;
  /** A pushed `credentialsChanged` (a change here, from the CLI or synced from a peer): newer than any load under way. */
  receiveCredentials(credentials: CredentialView[]): void;
}

export interface BackupSlice {
  /** The password and the file pass through to the host; neither is kept in the store. */
  createBackup(password: string): Promise<Outcome<CreateBackupOutput>>;
  inspectBackup(content: string): Promise<Outcome<BackupInfo>>;
  restoreBackup(input: {
    content: string;
    password: string;
    replace?: boolean;
  }): Promise<Outcome<OperationOutput<'restoreBackup'>>>;
  /** On success the node needs registration: the Register page shows. */
  unregister(force: boolean): Promise<Outcome<OperationOutput<'unregister'>>>;
}

export type AppState = StatusSlice &
  BackupSlice &
  SystemSlice &
  LogsSlice &
  ConnectionSlice &
  UiSlice &
  ProxySlice &
  RemoteAccessSlice &
  CertificatesSlice &
  JobsSlice &
  JobSettingsSlice &
  CredentialsSlice;
export type AppStore = StoreApi<AppState>;

type Slice<T> = StateCreator<AppState, [], [], T>;

const applyReport = (report: StatusReport): Partial<AppState> => ({
  report,
  system: report.system,
  loadError: null,
});

/**
 * Answers to a slice's requests may arrive out of order (a slow load after a
 * save, an event while a load is under way); only the newest request's answer
 * is kept. One per slice and kind of request.
 */
class NewestOnly {
  private seq = 0;

  /** Makes every request under way stale (an event or a save brought newer data). */
  supersede(): void {
    this.seq += 1;
  }

  /** Starts a request; the returned check says whether it is still the newest. */
  start(): () => boolean {
    const mine = ++this.seq;
    return () => mine === this.seq;
  }

  /** Loads with `run`, then hands the value or the error on, unless a newer request started meanwhile. */
  async load<T>(
    run: () => Promise<T>,
    onValue: (value: T) => void,
    onError: (error: UiError) => void,
  ): Promise<void> {
    const newest = this.start();
    try {
      const value = await run();
      if (newest()) onValue(value);
    } catch (error) {
      if (newest()) onError(toUiError(error));
    }
  }
}

const createStatusSlice =
  (api: OpenIrApi): Slice<StatusSlice> =>
  (set, get) => ({
    report: null,
    loadError: null,
    serviceAction: null,
    serviceError: null,
    registering: false,
    registerError: null,
    async refreshStatus() {
      try {
        set(applyReport(await api.getStatus({})));
      } catch (error) {
        set({ loadError: toUiError(error) });
      }
    },
    async register({ authKey, nodeName, remoteAccess }) {
      if (get().registering) return false;
      // The host validates too; checking here answers at once and never sends a malformed key.
      try {
        parseAuthKey(authKey);
      } catch (error) {
        set({ registerError: toUiError(error) });
        return false;
      }
      const name = nodeName.trim();
      if (name !== '') {
        const checked = NodeNameSchema.safeParse(name);
        if (!checked.success) {
          set({
            registerError: {
              code: 'INVALID_INPUT',
              message: checked.error.issues[0]?.message ?? 'The node name is not valid.',
              fix: 'Use letters, digits, ".", "_" and "-" only (up to 63 characters), or leave it empty.',
            },
          });
          return false;
        }
      }
      set({ registering: true, registerError: null });
      try {
        const report = await api.register({
          authKey: authKey.trim(),
          ...(name === '' ? {} : { nodeName: name }),
          ...(remoteAccess ? { remoteAccess } : {}),
        });
        set({ ...applyReport(report), registering: false, tab: 'home' });
        return true;
      } catch (error) {
        set({ registering: false, registerError: toUiError(error) });
        return false;
      }
    },
    async runServiceAction(action) {
      if (get().serviceAction) return;
      set({ serviceAction: action, serviceError: null });
      try {
        set({ ...applyReport(await api[action]({})), serviceAction: null });
      } catch (error) {
        set({ serviceAction: null, serviceError: toUiError(error) });
      }
    },
    clearRegisterError() {
      set({ registerError: null });
    },
  });

const createSystemSlice: Slice<SystemSlice> = () => ({ system: null });

const createLogsSlice =
  (api: OpenIrApi): Slice<LogsSlice> =>
  (set, get) => ({
    entries: [],
    held: [],
    paused: false,
    recent: [],
    logsError: null,
    logLevel: null,
    logLevelSaving: false,
    logLevelError: null,
    setPaused(paused) {
      if (paused === get().paused) return;
      if (paused) set({ paused: true });
      else
        set(({ entries, held }) => ({ paused: false, held: [], entries: mergeLogs(entries, held, LOG_CAP) }));
    },
    clearLogView() {
      set({ entries: [], held: [] });
    },
    async setLogLevel(level) {
      set({ logLevelSaving: true, logLevelError: null });
      try {
        const result = await api.setLogLevel({ level });
        set({ logLevel: result.level, logLevelSaving: false });
      } catch (error) {
        set({ logLevelSaving: false, logLevelError: toUiError(error) });
      }
    },
  });

const createConnectionSlice =
  (transport: Transport): Slice<ConnectionSlice> =>
  () => ({ connection: transport.connection.state(), transportKind: transport.kind });

const createUiSlice: Slice<UiSlice> = (set) => ({
  tab: 'home',
  setTab(tab) {
    set({ tab });
  },
});

/** Messages shown when a test has no control plane to reach. */
export const PROXY_TEST_NEEDS_KEY: UiError = {
  code: 'INVALID_INPUT',
  message: 'Paste the authentication key first: the test reaches the control plane named in the key.',
  fix: 'Close this dialog, paste the key of the integration runtime on the Register page, then test again.',
};
export const PROXY_TEST_NOT_REGISTERED: UiError = {
  code: 'NOT_REGISTERED',
  message: 'There is no control plane to test against yet: this node is not registered.',
  fix: 'Paste the authentication key on the Register page and test from its "Change" link next to HTTP proxy.',
};

const createProxySlice =
  (api: OpenIrApi): Slice<ProxySlice> =>
  (set, get) => {
    // Answers can overtake each other (a refresh after an event, the result of a save): only the newest is
    // applied. A test answer is dropped once the form it tested changed or the dialog closed.
    const view = new NewestOnly();
    const tests = new NewestOnly();
    return {
      proxyView: null,
      proxyLoadError: null,
      proxyDialog: null,
      proxyTesting: false,
      proxyTest: null,
      proxyTestError: null,
      proxySaving: false,
      proxySaveError: null,
      proxySaved: null,
      refreshProxy() {
        return view.load(
          () => api.getProxy({}),
          (proxyView) => set({ proxyView, proxyLoadError: null }),
          (proxyLoadError) => set({ proxyLoadError }),
        );
      },
      openProxyDialog(context) {
        tests.supersede();
        set({
          proxyDialog: context,
          proxyTesting: false,
          proxyTest: null,
          proxyTestError: null,
          proxySaveError: null,
          proxySaved: null,
        });
      },
      closeProxyDialog() {
        // A save in progress finishes first: its result (and the restart) must be seen.
        if (get().proxySaving) return;
        tests.supersede();
        set({
          proxyDialog: null,
          proxyTesting: false,
          proxyTest: null,
          proxyTestError: null,
          proxySaveError: null,
        });
      },
      async testProxy(proxy) {
        const { proxyDialog: dialog, report } = get();
        if (!dialog) return;
        const newest = tests.start();
        let target: ProxyTestTarget | undefined;
        if (dialog.from === 'register') {
          if (!dialog.target) {
            set({ proxyTesting: false, proxyTest: null, proxyTestError: PROXY_TEST_NEEDS_KEY });
            return;
          }
          target = dialog.target;
        } else if (report && !report.registered) {
          set({ proxyTesting: false, proxyTest: null, proxyTestError: PROXY_TEST_NOT_REGISTERED });
          return;
        }
        set({ proxyTesting: true, proxyTest: null, proxyTestError: null });
        try {
          const result = await api.testProxy(target ? { proxy, target } : { proxy });
          if (newest()) set({ proxyTesting: false, proxyTest: result });
        } catch (error) {
          if (newest()) set({ proxyTesting: false, proxyTestError: toUiError(error) });
        }
      },
      clearProxyTest() {
        tests.supersede();
        if (get().proxyTesting || get().proxyTest || get().proxyTestError)
          set({ proxyTesting: false, proxyTest: null, proxyTestError: null });
      },
      async saveProxy(proxy) {
        if (get().proxySaving) return false;
        const from = get().proxyDialog?.from ?? 'settings';
        tests.supersede();
        const newest = view.start();
        set({ proxySaving: true, proxySaveError: null, proxyTesting: false });
        try {
          // The host saves, then restarts its service; the status events follow (Stopped, Connecting, Online).
          const saved = await api.setProxy(proxy);
          if (newest()) set({ proxyView: saved, proxyLoadError: null });
          set({
            proxySaving: false,
            proxyDialog: null,
            proxyTest: null,
            proxyTestError: null,
            proxySaved: from,
          });
          return true;
        } catch (error) {
          set({ proxySaving: false, proxySaveError: toUiError(error) });
          // The setting may be saved even if the restart failed: show what the host has now.
          void get().refreshProxy();
          return false;
        }
      },
    };
  };

const createRemoteAccessSlice =
  (api: OpenIrApi): Slice<RemoteAccessSlice> =>
  (set, get) => {
    // Only the newest answer is applied (a refresh after an event can overtake a save's result).
    const view = new NewestOnly();
    return {
      remoteAccess: null,
      remoteAccessLoadError: null,
      remoteAccessDialog: false,
      remoteAccessSaving: false,
      remoteAccessSaveError: null,
      remoteAccessSaved: false,
      refreshRemoteAccess() {
        return view.load(
          () => api.getRemoteAccess({}),
          (remoteAccess) => set({ remoteAccess, remoteAccessLoadError: null }),
          (remoteAccessLoadError) => set({ remoteAccessLoadError }),
        );
      },
      openRemoteAccessDialog() {
        set({ remoteAccessDialog: true, remoteAccessSaveError: null, remoteAccessSaved: false });
        // The picker shows the store as it is now.
        void get().refreshCertificates();
      },
      closeRemoteAccessDialog() {
        if (get().remoteAccessSaving) return;
        set({ remoteAccessDialog: false, remoteAccessSaveError: null });
      },
      async saveRemoteAccess(settings) {
        if (get().remoteAccessSaving) return false;
        const newest = view.start();
        set({ remoteAccessSaving: true, remoteAccessSaveError: null });
        try {
          const saved = await api.setRemoteAccess(settings);
          if (newest()) set({ remoteAccess: saved, remoteAccessLoadError: null });
          set({ remoteAccessSaving: false, remoteAccessDialog: false, remoteAccessSaved: true });
          return true;
        } catch (error) {
          set({ remoteAccessSaving: false, remoteAccessSaveError: toUiError(error) });
          void get().refreshRemoteAccess();
          return false;
        }
      },
    };
  };

const createCertificatesSlice =
  (api: OpenIrApi): Slice<CertificatesSlice> =>
  (set, get) => {
    const list = new NewestOnly();
    /** Runs a row action: one at a time, its failure shown on its row, the list reloaded after a change. */
    const rowAction = async <T>(
      thumbprint: string,
      action: CertificateRowAction,
      run: () => Promise<T>,
      notice: (value: T) => string | null,
    ): Promise<T | null> => {
      if (get().certificateAction) return null;
      set({
        certificateAction: { thumbprint, action },
        certificateActionError: null,
        certificateNotice: null,
      });
      const outcome = await attempt(run);
      if (outcome.ok) {
        set({ certificateAction: null, certificateNotice: notice(outcome.value) });
        return outcome.value;
      }
      set({ certificateAction: null, certificateActionError: { thumbprint, error: outcome.error } });
      return null;
    };
    return {
      certificates: null,
      certificateFqdn: null,
      certificatesLoadError: null,
      certificateAction: null,
      certificateActionError: null,
      certificateNotice: null,
      refreshCertificates() {
        return list.load(
          () => api.listCertificates({}),
          (loaded) =>
            set({
              certificates: loaded.certificates,
              certificateFqdn: loaded.fqdn,
              certificatesLoadError: null,
            }),
          (certificatesLoadError) => set({ certificatesLoadError }),
        );
      },
      async inspectCertificate(input) {
        return attempt(() => api.inspectCertificate(input));
      },
      async importCertificate(input) {
        const outcome = await attempt(() => api.importCertificate(input));
        if (outcome.ok) await get().refreshCertificates();
        return outcome;
      },
      async createSelfSignedCertificate(input) {
        const outcome = await attempt(() => api.createSelfSignedCertificate(input));
        if (outcome.ok) await get().refreshCertificates();
        return outcome;
      },
      async exportCertificatePem(thumbprint) {
        const result = await rowAction(
          thumbprint,
          'export',
          () => api.exportCertificate({ thumbprint, format: 'pem' }),
          () => null,
        );
        return result ? result.data : null;
      },
      async setCertificateTrust(thumbprint, trusted) {
        const result = await rowAction(
          thumbprint,
          'trust',
          () => api.setCertificateTrust({ thumbprint, trusted }),
          (cert) =>
            trusted
              ? `This node now trusts ${cert.subject || 'the certificate'}.`
              : `This node no longer trusts ${cert.subject || 'the certificate'}.`,
        );
        void get().refreshCertificates();
        return result !== null;
      },
      async removeCertificate(thumbprint) {
        const result = await rowAction(
          thumbprint,
          'remove',
          () => api.removeCertificate({ thumbprint }),
          (cert) => `Removed ${cert.subject || 'the certificate'} from the store.`,
        );
        void get().refreshCertificates();
        // The setting may have referred to it.
        if (result) void get().refreshRemoteAccess();
        return result !== null;
      },
    };
  };

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error: toUiError(error) };
  }
}

const createJobsSlice =
  (api: OpenIrApi): Slice<JobsSlice> =>
  (set) => {
    const loads = new NewestOnly();
    return {
      jobs: null,
      jobsLoadError: null,
      refreshJobs() {
        return loads.load(
          () => api.getJobs({}),
          (jobs) => set({ jobs, jobsLoadError: null }),
          (jobsLoadError) => set({ jobsLoadError }),
        );
      },
      receiveJobs(jobs) {
        loads.supersede();
        set({ jobs, jobsLoadError: null });
      },
    };
  };

const createJobSettingsSlice =
  (api: OpenIrApi): Slice<JobSettingsSlice> =>
  (set) => {
    const loads = new NewestOnly();
    const change = async (run: () => Promise<JobSettingsView>): Promise<Outcome<JobSettingsView>> => {
      const newest = loads.start();
      const outcome = await attempt(run);
      if (outcome.ok && newest()) set({ jobSettings: outcome.value, jobSettingsLoadError: null });
      return outcome;
    };
    return {
      jobSettings: null,
      jobSettingsLoadError: null,
      refreshJobSettings() {
        return loads.load(
          () => api.getJobSettings({}),
          (jobSettings) => set({ jobSettings, jobSettingsLoadError: null }),
          (jobSettingsLoadError) => set({ jobSettingsLoadError }),
        );
      },
      setConcurrentJobsLimit(limit) {
        return change(() => api.setConcurrentJobsLimit({ limit }));
      },
      allowFolder(path) {
        return change(() => api.allowFolder({ path }));
      },
      disallowFolder(path) {
        return change(() => api.disallowFolder({ path }));
      },
    };
  };

const createCredentialsSlice =
  (api: OpenIrApi): Slice<CredentialsSlice> =>
  (set, get) => {
    const loads = new NewestOnly();
    return {
      credentials: null,
      credentialsLoadError: null,
      refreshCredentials() {
        return loads.load(
          () => api.listCredentials({}),
          (list) => set({ credentials: list.credentials, credentialsLoadError: null }),
          (credentialsLoadError) => set({ credentialsLoadError }),
        );
      },
      async saveCredential(input) {
        const outcome = await attempt(() => api.setCredential(input));
        if (outcome.ok) await get().refreshCredentials();
        return outcome;
      },
      async deleteCredential(name) {
        const outcome = await attempt(() => api.deleteCredential({ name }));
        await get().refreshCredentials();
        return outcome;
      },
      receiveCredentials(credentials) {
        loads.supersede();
        set({ credentials, credentialsLoadError: null });
      },
    };
  };

const createBackupSlice =
  (api: OpenIrApi): Slice<BackupSlice> =>
  (set) => ({
    createBackup(password) {
      return attempt(() => api.createBackup({ password }));
    },
    inspectBackup(content) {
      return attempt(() => api.inspectBackup({ content }));
    },
    async restoreBackup(input) {
      const outcome = await attempt(() => api.restoreBackup(input));
      if (outcome.ok) set(applyReport(outcome.value.status));
      return outcome;
    },
    async unregister(force) {
      const outcome = await attempt(() => api.unregister(force ? { force: true } : {}));
      if (outcome.ok) set({ ...applyReport(outcome.value.status), tab: 'home' });
      return outcome;
    },
  });

export function createAppStore(transport: Transport): AppStore {
  return createStore<AppState>()((...args) => ({
    ...createStatusSlice(transport.api)(...args),
    ...createSystemSlice(...args),
    ...createLogsSlice(transport.api)(...args),
    ...createConnectionSlice(transport)(...args),
    ...createUiSlice(...args),
    ...createProxySlice(transport.api)(...args),
    ...createRemoteAccessSlice(transport.api)(...args),
    ...createCertificatesSlice(transport.api)(...args),
    ...createJobsSlice(transport.api)(...args),
    ...createJobSettingsSlice(transport.api)(...args),
    ...createCredentialsSlice(transport.api)(...args),
    ...createBackupSlice(transport.api)(...args),
  }));
}

/** Subscribes the store to the host's events and loads the first state; returns the teardown. */
export function connectStore(store: AppStore, transport: Transport): () => void {
  const { api } = transport;
  const { setState: set, getState: get } = store;

  const onLog = (entry: LogEntry) => {
    set((state) => {
      const next: Partial<AppState> = {};
      if (state.paused) next.held = appendCapped(state.held, entry, LOG_CAP);
      else next.entries = appendCapped(state.entries, entry, LOG_CAP);
      if (atLeast(entry, 'info')) next.recent = appendCapped(state.recent, entry, RECENT_CAP);
      return next;
    });
  };

  const loadLogs = async () => {
    try {
      const [all, important] = await Promise.all([
        api.getLogs({ limit: 500 }),
        api.getLogs({ limit: 50, minLevel: 'info' }),
      ]);
      set((state) => ({
        logLevel: all.level,
        logsError: null,
        // While paused, what the host had and the viewer lacks waits with the other held entries.
        ...(state.paused
          ? { held: mergeLogs(state.held, missingFrom(state.entries, all.entries), LOG_CAP) }
          : { entries: mergeLogs(all.entries, state.entries, LOG_CAP) }),
        recent: mergeLogs(important.entries, state.recent, 50).slice(-RECENT_CAP),
      }));
    } catch (error) {
      set({ logsError: toUiError(error) });
    }
  };

  const unsubscribe = [
    // There is no proxy event; the route depends on the control plane, so it is read again whenever the
    // registration changes (by an event or by an operation result such as register()).
    store.subscribe((state, previous) => {
      if (previous.report && registrationOf(state.report) !== registrationOf(previous.report))
        void state.refreshProxy();
      // Remote access has no event either: whether it may change follows the IR's node count, whether it
      // listens follows the service, and the certificates' check follows the node's FQDN.
      if (previous.report && remoteAccessDependsOn(state.report) !== remoteAccessDependsOn(previous.report)) {
        void state.refreshRemoteAccess();
        void state.refreshCertificates();
      }
      // The limit may be changed from the CLI too: the status report carries it, the settings follow.
      if (state.report && state.report.jobs.limit !== previous.report?.jobs.limit)
        void state.refreshJobSettings();
      // Settings shows what the host has now (the CLI may have changed credentials or the allow-list).
      if (state.tab === 'settings' && previous.tab !== 'settings') {
        void state.refreshJobSettings();
        void state.refreshCredentials();
      }
    }),
    api.onStatusChanged((report) => {
      // The event's system sample is empty by design; CPU and memory arrive as systemSampled.
      set((state) => ({
        report,
        loadError: null,
        tab: state.report && !state.report.registered && report.registered ? 'home' : state.tab,
      }));
    }),
    api.onSystemSampled((system) => set({ system })),
    api.onJobsChanged((jobs) => get().receiveJobs(jobs)),
    api.onCredentialsChanged((list) => get().receiveCredentials(list.credentials)),
    api.onLog(onLog),
    transport.connection.subscribe((connection, resumed) => {
      set({ connection });
      if (resumed) {
        void get().refreshStatus();
        void get().refreshProxy();
        void get().refreshRemoteAccess();
        void get().refreshCertificates();
        void get().refreshJobs();
        void get().refreshJobSettings();
        void get().refreshCredentials();
        void loadLogs();
      }
    }),
  ];

  void get().refreshStatus();
  void get().refreshProxy();
  void get().refreshRemoteAccess();
  void get().refreshCertificates();
  void get().refreshJobs();
  void get().refreshJobSettings();
  void get().refreshCredentials();
  void loadLogs();

  return () => unsubscribe.forEach((off) => off());
}

function registrationOf(report: StatusReport | null): string | null {
  return report?.registered ? (report.controlPlane?.endpoint ?? '') : null;
}

function remoteAccessDependsOn(report: StatusReport | null): string {
  if (!report) return '';
  return [registrationOf(report), report.irNodes.length, report.serviceRunning, report.node?.fqdn ?? ''].join(
    '|',
  );
}

export const StoreContext = createContext<AppStore | null>(null);

export function useApp<T>(selector: (state: AppState) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp must be used inside <StoreContext.Provider>.');
  return useStore(store, selector);
}
