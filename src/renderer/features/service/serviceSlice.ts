import type { OpenIrApi } from '../../../shared/api';
import { toUiError, type UiError } from '../../errors';
import type { Slice } from '../../state/slice';
import type { StatusSlice } from '../../state/statusSlice';

export type ServiceAction = 'startService' | 'stopService' | 'restartService' | 'drain';

export interface ServiceSlice {
  /** The action under way (one at a time). */
  serviceAction: ServiceAction | null;
  serviceError: UiError | null;
  runServiceAction(action: ServiceAction): Promise<void>;
}

export const createServiceSlice =
  (api: Pick<OpenIrApi, ServiceAction>): Slice<ServiceSlice, StatusSlice> =>
  (set, get) => ({
    serviceAction: null,
    serviceError: null,
    async runServiceAction(action) {
      if (get().serviceAction) return;
      set({ serviceAction: action, serviceError: null });
      try {
        const report = await api[action]({});
        get().applyReport(report);
        set({ serviceAction: null });
      } catch (error) {
        set({ serviceAction: null, serviceError: toUiError(error) });
      }
    },
  });
