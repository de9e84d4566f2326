import type { OpenIrApi } from '../../../shared/api';
import type { ProxyInput, ProxyTestReport, ProxyView } from '../../../shared/proxy';
import { toUiError, type UiError } from '../../errors';
import { NewestOnly } from '../../state/newestOnly';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import { CLOSED_DIALOG, settingDialog, type SettingDialog } from '../../state/settingDialog';
import type { Slice } from '../../state/slice';
import type { StatusSlice } from '../../state/statusSlice';

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

/** The last test of the dialog's (unsaved) settings. */
export interface ProxyTestState {
  testing: boolean;
  report: ProxyTestReport | null;
  error: UiError | null;
}

const NO_TEST: ProxyTestState = { testing: false, report: null, error: null };

export interface ProxySlice {
  /** The saved setting and the route it gives (pushed by `proxyChanged`); the password never reaches the UI. */
  proxy: Loaded<ProxyView>;
  proxyDialog: SettingDialog<ProxyDialogContext>;
  proxyTest: ProxyTestState;
  refreshProxy(): Promise<void>;
  receiveProxy(view: ProxyView): void;
  openProxyDialog(context: ProxyDialogContext): void;
  closeProxyDialog(): void;
  testProxy(proxy: ProxyInput): Promise<void>;
  clearProxyTest(): void;
  saveProxy(proxy: ProxyInput): Promise<boolean>;
}

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

export const createProxySlice =
  (api: Pick<OpenIrApi, 'getProxy' | 'setProxy' | 'testProxy'>): Slice<ProxySlice, StatusSlice> =>
  (set, get) => {
    const view = hostResource(() => api.getProxy({}), nested(set, 'proxy'));
    const dialog = settingDialog(view, () => get().proxyDialog, nested(set, 'proxyDialog'));
    // A test answer is dropped once the form it tested changed or the dialog closed.
    const tests = new NewestOnly();
    const clearTest = () => {
      tests.supersede();
      set({ proxyTest: NO_TEST });
    };
    return {
      proxy: NOT_LOADED,
      proxyDialog: CLOSED_DIALOG,
      proxyTest: NO_TEST,
      refreshProxy: view.refresh,
      receiveProxy: view.receive,
      openProxyDialog(context) {
        clearTest();
        dialog.open(context);
      },
      closeProxyDialog() {
        if (get().proxyDialog.saving) return;
        clearTest();
        dialog.close();
      },
      async testProxy(proxy) {
        const { proxyDialog, report } = get();
        const context = proxyDialog.open;
        if (!context) return;
        const newest = tests.start();
        let target: ProxyTestTarget | undefined;
        if (context.from === 'register') {
          if (!context.target) {
            set({ proxyTest: { ...NO_TEST, error: PROXY_TEST_NEEDS_KEY } });
            return;
          }
          target = context.target;
        } else if (report && !report.registered) {
          set({ proxyTest: { ...NO_TEST, error: PROXY_TEST_NOT_REGISTERED } });
          return;
        }
        set({ proxyTest: { ...NO_TEST, testing: true } });
        try {
          const result = await api.testProxy(target ? { proxy, target } : { proxy });
          if (newest()) set({ proxyTest: { ...NO_TEST, report: result } });
        } catch (error) {
          if (newest()) set({ proxyTest: { ...NO_TEST, error: toUiError(error) } });
        }
      },
      clearProxyTest() {
        tests.supersede();
        const { testing, report, error } = get().proxyTest;
        if (testing || report || error) set({ proxyTest: NO_TEST });
      },
      async saveProxy(proxy) {
        if (get().proxyDialog.saving) return false;
        clearTest();
        // The host saves, then restarts its service; the status events follow (Stopped, Connecting, Online).
        return dialog.save(() => api.setProxy(proxy));
      },
    };
  };
