import { createContext, useContext } from 'react';
import { createStore, useStore, type StateCreator, type StoreApi } from 'zustand';
import type { OpenIrApi } from '../shared/api';
import { parseAuthKey } from '../shared/authKey';
import type { LogEntry, LogLevel, StatusReport, SystemSample } from '../shared/contract';
import { NodeNameSchema } from '../shared/controlPlaneApi';
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
  register(input: { authKey: string; nodeName: string }): Promise<boolean>;
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

export type AppState = StatusSlice & SystemSlice & LogsSlice & ConnectionSlice & UiSlice;
export type AppStore = StoreApi<AppState>;

type Slice<T> = StateCreator<AppState, [], [], T>;

const applyReport = (report: StatusReport): Partial<AppState> => ({
  report,
  system: report.system,
  loadError: null,
});

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
    async register({ authKey, nodeName }) {
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
        const report = await api.register(
          name === '' ? { authKey: authKey.trim() } : { authKey: authKey.trim(), nodeName: name },
        );
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

export function createAppStore(transport: Transport): AppStore {
  return createStore<AppState>()((...args) => ({
    ...createStatusSlice(transport.api)(...args),
    ...createSystemSlice(...args),
    ...createLogsSlice(transport.api)(...args),
    ...createConnectionSlice(transport)(...args),
    ...createUiSlice(...args),
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
    api.onStatusChanged((report) => {
      // The event's system sample is empty by design; CPU and memory arrive as systemSampled.
      set((state) => ({
        report,
        loadError: null,
        tab: state.report && !state.report.registered && report.registered ? 'home' : state.tab,
      }));
    }),
    api.onSystemSampled((system) => set({ system })),
    api.onLog(onLog),
    transport.connection.subscribe((connection, resumed) => {
      set({ connection });
      if (resumed) {
        void get().refreshStatus();
        void loadLogs();
      }
    }),
  ];

  void get().refreshStatus();
  void loadLogs();

  return () => unsubscribe.forEach((off) => off());
}

export const StoreContext = createContext<AppStore | null>(null);

export function useApp<T>(selector: (state: AppState) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp must be used inside <StoreContext.Provider>.');
  return useStore(store, selector);
}
