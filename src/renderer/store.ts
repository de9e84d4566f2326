import { createContext, useContext } from 'react';
import { createStore, useStore, type StoreApi } from 'zustand';
import { createBackupSlice, type BackupSlice } from './features/backup/backupSlice';
import { createCertificatesSlice, type CertificatesSlice } from './features/certificates/certificatesSlice';
import { createCredentialsSlice, type CredentialsSlice } from './features/credentials/credentialsSlice';
import {
  createDiagnosticsBundleSlice,
  type DiagnosticsBundleSlice,
} from './features/diagnostics/diagnosticsBundleSlice';
import { createJobSettingsSlice, type JobSettingsSlice } from './features/jobs/jobSettingsSlice';
import { createJobsSlice, type JobsSlice } from './features/jobs/jobsSlice';
import { createTroubleshootSlice, type TroubleshootSlice } from './features/diagnostics/troubleshootSlice';
import { createLogsSlice, type LogsSlice } from './features/logging/logsSlice';
import { createProxySlice, type ProxySlice } from './features/proxy/proxySlice';
import { createRegisterSlice, type RegisterSlice } from './features/register/registerSlice';
import { createRemoteAccessSlice, type RemoteAccessSlice } from './features/remote-access/remoteAccessSlice';
import { createServiceSlice, type ServiceSlice } from './features/service/serviceSlice';
import { createConnectionSlice, type ConnectionSlice } from './state/connectionSlice';
import { createStatusSlice, type StatusSlice } from './state/statusSlice';
import { createSystemSlice, type SystemSlice } from './state/systemSlice';
import { createUiSlice, type UiSlice } from './state/uiSlice';
import type { Transport } from './transport';

/**
 * The one store, put together from one slice per concern (each in its own file, most in their feature's
 * folder). The host pushes every change as an event; the store never polls. Operation results are applied
 * too, so the UI is right even when an event was missed.
 */
export type AppState = StatusSlice &
  SystemSlice &
  ConnectionSlice &
  UiSlice &
  ServiceSlice &
  RegisterSlice &
  LogsSlice &
  ProxySlice &
  RemoteAccessSlice &
  CertificatesSlice &
  JobsSlice &
  JobSettingsSlice &
  CredentialsSlice &
  BackupSlice &
  TroubleshootSlice &
  DiagnosticsBundleSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(transport: Pick<Transport, 'api' | 'kind' | 'connection'>): AppStore {
  const { api } = transport;
  return createStore<AppState>()((...args) => ({
    ...createStatusSlice(api)(...args),
    ...createSystemSlice(...args),
    ...createConnectionSlice(transport)(...args),
    ...createUiSlice(...args),
    ...createServiceSlice(api)(...args),
    ...createRegisterSlice(api)(...args),
    ...createLogsSlice(api)(...args),
    ...createProxySlice(api)(...args),
    ...createRemoteAccessSlice(api)(...args),
    ...createCertificatesSlice(api)(...args),
    ...createJobsSlice(api)(...args),
    ...createJobSettingsSlice(api)(...args),
    ...createCredentialsSlice(api)(...args),
    ...createBackupSlice(api)(...args),
    ...createTroubleshootSlice(api)(...args),
    ...createDiagnosticsBundleSlice(api)(...args),
  }));
}

/**
 * Subscribes the store to the host's events and loads the first state; returns the teardown. Every
 * resource is loaded once on connect and again when the event stream comes back after a loss (events may
 * have been missed meanwhile); between those, its event keeps it current.
 */
export function connectStore(store: AppStore, transport: Pick<Transport, 'api' | 'connection'>): () => void {
  const { api } = transport;
  const { getState: get } = store;

  const loadAll = () => {
    const state = get();
    void state.refreshStatus();
    void state.refreshProxy();
    void state.refreshRemoteAccess();
    void state.refreshCertificates();
    void state.refreshJobs();
    void state.refreshJobSettings();
    void state.refreshCredentials();
    void state.refreshLogs();
  };

  const unsubscribe = [
    api.onStatusChanged((report) => get().receiveStatus(report)),
    api.onSystemSampled((system) => get().receiveSystem(system)),
    api.onLog((entry) => get().receiveLog(entry)),
    api.onProxyChanged((view) => get().receiveProxy(view)),
    api.onRemoteAccessChanged((view) => get().receiveRemoteAccess(view)),
    api.onCertificatesChanged((list) => get().receiveCertificates(list)),
    api.onJobsChanged((jobs) => get().receiveJobs(jobs)),
    api.onJobSettingsChanged((view) => get().receiveJobSettings(view)),
    api.onCredentialsChanged((list) => get().receiveCredentials(list)),
    transport.connection.subscribe((connection, resumed) => {
      store.setState({ connection });
      if (resumed) loadAll();
    }),
  ];

  loadAll();

  return () => unsubscribe.forEach((off) => off());
}

export const StoreContext = createContext<AppStore | null>(null);

export function useApp<T>(selector: (state: AppState) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp must be used inside <StoreContext.Provider>.');
  return useStore(store, selector);
}
