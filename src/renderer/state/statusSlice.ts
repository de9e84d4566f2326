import type { OpenIrApi } from '../../shared/api';
import type { StatusReport } from '../../shared/contract';
import { toUiError, type UiError } from '../errors';
import type { Slice } from './slice';
import type { SystemSlice } from './systemSlice';
import type { UiSlice } from './uiSlice';

export interface StatusSlice {
  /** The host's status report: loaded on connect, then pushed by `statusChanged` and operation results. */
  report: StatusReport | null;
  loadError: UiError | null;
  refreshStatus(): Promise<void>;
  /** A pushed `statusChanged`; a node that just got registered shows Home. */
  receiveStatus(report: StatusReport): void;
  /** A report returned by an operation (register, service actions, restore, unregister). */
  applyReport(report: StatusReport): void;
}

export const createStatusSlice =
  (api: Pick<OpenIrApi, 'getStatus'>): Slice<StatusSlice, SystemSlice & UiSlice> =>
  (set) => {
    // Operation results carry a CPU and memory sample; `statusChanged` payloads do not (it arrives as
    // systemSampled).
    const applyReport = (report: StatusReport) => set({ report, system: report.system, loadError: null });
    return {
      report: null,
      loadError: null,
      async refreshStatus() {
        try {
          applyReport(await api.getStatus({}));
        } catch (error) {
          set({ loadError: toUiError(error) });
        }
      },
      receiveStatus(report) {
        set((state) => ({
          report,
          loadError: null,
          tab: state.report && !state.report.registered && report.registered ? 'home' : state.tab,
        }));
      },
      applyReport,
    };
  };
