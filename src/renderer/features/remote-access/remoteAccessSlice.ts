import type { OpenIrApi } from '../../../shared/api';
import type { RemoteAccessSettings, RemoteAccessView } from '../../../shared/remoteAccess';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import { CLOSED_DIALOG, settingDialog, type SettingDialog } from '../../state/settingDialog';
import type { Slice } from '../../state/slice';

export interface RemoteAccessSlice {
  /** The setting, whether it listens, its URL and whether it may change now (pushed by `remoteAccessChanged`). */
  remoteAccess: Loaded<RemoteAccessView>;
  /** Opened from Settings only. */
  remoteAccessDialog: SettingDialog<'settings'>;
  refreshRemoteAccess(): Promise<void>;
  receiveRemoteAccess(view: RemoteAccessView): void;
  openRemoteAccessDialog(): void;
  closeRemoteAccessDialog(): void;
  saveRemoteAccess(settings: RemoteAccessSettings): Promise<boolean>;
}

export const createRemoteAccessSlice =
  (api: Pick<OpenIrApi, 'getRemoteAccess' | 'setRemoteAccess'>): Slice<RemoteAccessSlice> =>
  (set, get) => {
    const view = hostResource(() => api.getRemoteAccess({}), nested(set, 'remoteAccess'));
    const dialog = settingDialog(view, () => get().remoteAccessDialog, nested(set, 'remoteAccessDialog'));
    return {
      remoteAccess: NOT_LOADED,
      remoteAccessDialog: CLOSED_DIALOG,
      refreshRemoteAccess: view.refresh,
      receiveRemoteAccess: view.receive,
      openRemoteAccessDialog: () => dialog.open('settings'),
      closeRemoteAccessDialog: dialog.close,
      saveRemoteAccess: (settings) => dialog.save(() => api.setRemoteAccess(settings)),
    };
  };
