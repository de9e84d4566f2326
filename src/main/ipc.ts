import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { ipcChannelForEvent, ipcChannelForOperation, type IpcReply } from '../shared/api';
import { EVENT_NAMES, OPERATION_NAMES, type HostApi } from '../shared/contract';
import { OpenIrError, toErrorBody } from '../shared/errors';
import type { HostEvents } from '../core/events';
import { invokeOperation } from '../shared/invoke';
import { isAppUrl } from './navigation';

/** Only the app's own top-level page may call the host. */
export function isTrustedSender(
  event: Pick<IpcMainInvokeEvent, 'senderFrame'>,
  appIndexUrl: string,
): boolean {
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  return isAppUrl(frame.url, appIndexUrl);
}

/**
 * Binds every contract operation to `ipcMain.handle`, generated from the
 * table, with the same validation as the HTTP binding. Returns the unbind.
 */
export function bindContractOverIpc(
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>,
  api: HostApi,
  appIndexUrl: string,
): () => void {
  for (const name of OPERATION_NAMES) {
    ipcMain.handle(
      ipcChannelForOperation(name),
      async (event, input: unknown): Promise<IpcReply<unknown>> => {
        if (!isTrustedSender(event, appIndexUrl)) {
          return {
            ok: false,
            error: new OpenIrError('UNAUTHORIZED', 'This window may not control the OpenIR host.').toBody(),
          };
        }
        try {
          return { ok: true, value: await invokeOperation(api, name, input ?? {}) };
        } catch (error) {
          return { ok: false, error: toErrorBody(error) };
        }
      },
    );
  }
  return () => OPERATION_NAMES.forEach((name) => ipcMain.removeHandler(ipcChannelForOperation(name)));
}

/** Pushes every contract event to the window; returns the unsubscribe. */
export function forwardEvents(events: HostEvents, target: () => WebContents | null): () => void {
  const offs = EVENT_NAMES.map((name) =>
    events.on(name, (payload) => {
      const contents = target();
      if (contents && !contents.isDestroyed()) contents.send(ipcChannelForEvent(name), payload);
    }),
  );
  return () => offs.forEach((off) => off());
}
