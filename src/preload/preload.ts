/**
 * The bridge between the sandboxed renderer and the host: one method per
 * contract operation and one `onX(listener)` per event, built from the name
 * lists so it cannot drift from the contract. Bundled into one CommonJS file.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { eventMethodName, ipcChannelForEvent, ipcChannelForOperation, type IpcReply } from '../shared/api';
import { EVENT_NAME_LIST, OPERATION_NAME_LIST } from '../shared/contractNames';

const api: Record<string, unknown> = {};

for (const name of OPERATION_NAME_LIST) {
  api[name] = async (input: unknown) => {
    const reply = (await ipcRenderer.invoke(ipcChannelForOperation(name), input)) as IpcReply<unknown>;
    if (reply.ok) return reply.value;
    // A plain object, not an Error: contextBridge drops custom properties (code, fix) of Errors.
    return Promise.reject({ name: 'ApiError', ...reply.error });
  };
}

for (const event of EVENT_NAME_LIST) {
  api[eventMethodName(event)] = (listener: (payload: unknown) => void) => {
    const handler = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
    ipcRenderer.on(ipcChannelForEvent(event), handler);
    return () => {
      ipcRenderer.removeListener(ipcChannelForEvent(event), handler);
    };
  };
}

contextBridge.exposeInMainWorld('openir', Object.freeze(api));
