import type { OpenIrApi } from '../../../shared/api';
import { parseAuthKey } from '../../../shared/authKey';
import { NodeNameSchema } from '../../../shared/controlPlaneApi';
import type { RemoteAccessSettings } from '../../../shared/remoteAccess';
import { toUiError, type UiError } from '../../errors';
import type { Slice } from '../../state/slice';
import type { StatusSlice } from '../../state/statusSlice';
import type { UiSlice } from '../../state/uiSlice';

export interface RegisterSlice {
  registering: boolean;
  registerError: UiError | null;
  /** On success the node is registered and Home shows. */
  register(input: {
    authKey: string;
    nodeName: string;
    remoteAccess?: RemoteAccessSettings | undefined;
  }): Promise<boolean>;
  clearRegisterError(): void;
}

export const createRegisterSlice =
  (api: Pick<OpenIrApi, 'register'>): Slice<RegisterSlice, StatusSlice & UiSlice> =>
  (set, get) => ({
    registering: false,
    registerError: null,
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
        get().applyReport(report);
        set({ registering: false, tab: 'home' });
        return true;
      } catch (error) {
        set({ registering: false, registerError: toUiError(error) });
        return false;
      }
    },
    clearRegisterError() {
      set({ registerError: null });
    },
  });
