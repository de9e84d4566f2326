import type { OpenIrApi } from '../../../shared/api';
import type { BackupInfo, CreateBackupOutput } from '../../../shared/backup';
import type { OperationOutput } from '../../../shared/contract';
import { attempt, type Outcome } from '../../state/outcome';
import type { Slice } from '../../state/slice';
import type { StatusSlice } from '../../state/statusSlice';
import type { UiSlice } from '../../state/uiSlice';

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

export const createBackupSlice =
  (
    api: Pick<OpenIrApi, 'createBackup' | 'inspectBackup' | 'restoreBackup' | 'unregister'>,
  ): Slice<BackupSlice, StatusSlice & UiSlice> =>
  (set, get) => ({
    createBackup: (password) => attempt(() => api.createBackup({ password })),
    inspectBackup: (content) => attempt(() => api.inspectBackup({ content })),
    async restoreBackup(input) {
      const outcome = await attempt(() => api.restoreBackup(input));
      if (outcome.ok) get().applyReport(outcome.value.status);
      return outcome;
    },
    async unregister(force) {
      const outcome = await attempt(() => api.unregister(force ? { force: true } : {}));
      if (outcome.ok) {
        get().applyReport(outcome.value.status);
        set({ tab: 'home' });
      }
      return outcome;
    },
  });
