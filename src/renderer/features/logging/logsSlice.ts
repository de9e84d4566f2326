import type { OpenIrApi } from '../../../shared/api';
import type { LogEntry, LogLevel } from '../../../shared/contract';
import { toUiError, type UiError } from '../../errors';
import type { Slice } from '../../state/slice';
import { appendCapped, atLeast, LOG_CAP, mergeLogs, missingFrom, RECENT_CAP } from './logs';

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
  /** What the host has (on connect and reconnect), merged with what was pushed meanwhile. */
  refreshLogs(): Promise<void>;
  /** A pushed `log` entry. */
  receiveLog(entry: LogEntry): void;
}

export const createLogsSlice =
  (api: Pick<OpenIrApi, 'getLogs' | 'setLogLevel'>): Slice<LogsSlice> =>
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
    async refreshLogs() {
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
    },
    receiveLog(entry) {
      set((state) => {
        const next: Partial<LogsSlice> = {};
        if (state.paused) next.held = appendCapped(state.held, entry, LOG_CAP);
        else next.entries = appendCapped(state.entries, entry, LOG_CAP);
        if (atLeast(entry, 'info')) next.recent = appendCapped(state.recent, entry, RECENT_CAP);
        return next;
      });
    },
  });
