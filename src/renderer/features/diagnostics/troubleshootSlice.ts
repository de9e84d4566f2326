import type { OpenIrApi } from '../../../shared/api';
import type { TroubleshootReport } from '../../../shared/troubleshoot';
import { toUiError, type UiError } from '../../errors';
import type { Slice } from '../../state/slice';
import type { UiSlice } from '../../state/uiSlice';

/** A control plane to try instead of the registered one: the Register page's pasted key. */
export interface TroubleshootTarget {
  endpoint: string;
  pin: string;
}

export interface TroubleshootState {
  running: boolean;
  report: TroubleshootReport | null;
  /** The run itself failed (the host did not answer), not a check. */
  error: UiError | null;
  /** Asked for from another page: the section scrolls itself into view once. */
  requested: number;
}

export interface TroubleshootSlice {
  troubleshoot: TroubleshootState;
  runTroubleshoot(target?: TroubleshootTarget): Promise<void>;
  /** Goes to Diagnostics › Troubleshoot and runs it (the Register page's link after a failed registration). */
  openTroubleshoot(target?: TroubleshootTarget): void;
}

export const createTroubleshootSlice =
  (api: Pick<OpenIrApi, 'runTroubleshoot'>): Slice<TroubleshootSlice, UiSlice> =>
  (set, get) => {
    const run = async (target?: TroubleshootTarget): Promise<void> => {
      if (get().troubleshoot.running) return;
      set((s) => ({ troubleshoot: { ...s.troubleshoot, running: true, error: null } }));
      try {
        const report = await api.runTroubleshoot(target ? { target } : {});
        set((s) => ({ troubleshoot: { ...s.troubleshoot, running: false, report } }));
      } catch (error) {
        set((s) => ({ troubleshoot: { ...s.troubleshoot, running: false, error: toUiError(error) } }));
      }
    };
    return {
      troubleshoot: { running: false, report: null, error: null, requested: 0 },
      runTroubleshoot: run,
      openTroubleshoot(target) {
        set((s) => ({ troubleshoot: { ...s.troubleshoot, requested: s.troubleshoot.requested + 1 } }));
        get().setTab('diagnostics');
        void run(target);
      },
    };
  };
