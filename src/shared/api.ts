import type { ErrorBody } from './errors';
import type { EventName, EventPayload, OperationInput, OperationName, OperationOutput } from './contract';

/**
 * The host API as a face sees it: one async method per operation, one
 * `onX(listener)` per event returning its unsubscribe. The preload exposes it
 * as `window.openir` in Electron; the renderer builds the same object over
 * HTTP + WebSocket in a browser. Failures reject with an `ApiError`.
 */
export type EventMethodName<E extends EventName> = `on${Capitalize<E>}`;

export type OpenIrApi = {
  [N in OperationName]: (input: OperationInput<N>) => Promise<OperationOutput<N>>;
} & {
  [E in EventName as EventMethodName<E>]: (listener: (payload: EventPayload<E>) => void) => () => void;
};

export function eventMethodName<E extends EventName>(event: E): EventMethodName<E> {
  return `on${event.charAt(0).toUpperCase()}${event.slice(1)}` as EventMethodName<E>;
}

/** What a rejected API call carries, whichever transport it crossed. */
export interface ApiError extends Error {
  code: ErrorBody['code'];
  fix?: string;
}

export function apiError(body: ErrorBody): ApiError {
  return Object.assign(new Error(body.message), {
    name: 'ApiError',
    code: body.code,
    ...(body.fix ? { fix: body.fix } : {}),
  });
}

/** IPC channel names, derived from the table so main and preload cannot disagree. */
export const ipcChannelForOperation = (name: OperationName): string => `openir:op:${name}`;
export const ipcChannelForEvent = (name: EventName): string => `openir:event:${name}`;

/** IPC replies carry errors as data: Electron flattens thrown errors into a string. */
export type IpcReply<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

/** The web binding's event frames on `GET /api/v1/events` (WebSocket). */
export const WEB_EVENTS_PATH = '/api/v1/events';

/** Close code of the web UI's event socket when its session expired or was evicted (4000-4999 are the application's). */
export const WEB_SESSION_ENDED_CLOSE_CODE = 4401;
export interface WebEventFrame<E extends EventName = EventName> {
  event: E;
  payload: EventPayload<E>;
}
