import {
  apiError,
  eventMethodName,
  WEB_EVENTS_PATH,
  WEB_SESSION_ENDED_CLOSE_CODE,
  type ApiError,
  type OpenIrApi,
} from '../shared/api';
import type { EventName, EventPayload, OperationName } from '../shared/contract';
import { EVENT_NAME_LIST, OPERATION_NAME_LIST } from '../shared/contractNames';
import type { ErrorBody } from '../shared/errors';

/**
 * The only code that differs between the desktop app and the browser: in
 * Electron the preload exposes the host API as `window.openir`; served by
 * `openir serve`, the same API is built here over HTTP (operations) and one
 * WebSocket (events). Everything above this file sees an `OpenIrApi`.
 */

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'session-expired';

export interface ConnectionMonitor {
  state(): ConnectionState;
  /** `resumed` is true when the event stream came back after a loss: events may have been missed. */
  subscribe(listener: (state: ConnectionState, resumed: boolean) => void): () => void;
}

export interface Transport {
  readonly kind: 'desktop' | 'web';
  readonly api: OpenIrApi;
  readonly connection: ConnectionMonitor;
}

export const SESSION_EXPIRED_MESSAGE =
  'Your session for this OpenIR host has expired. Run `openir ui-url` on the host for a new sign-in link.';

export const HOST_UNREACHABLE_MESSAGE = 'The OpenIR host cannot be reached.';

/** 401 answers that are about the key or node credential, not about this browser session. */
const CREDENTIAL_ERROR_CODES: ReadonlySet<string> = new Set([
  'AUTH_KEY_INVALID',
  'AUTH_KEY_REVOKED',
  'NODE_CREDENTIAL_REJECTED',
]);

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;

let current: Transport | null = null;

export function getTransport(): Transport {
  current ??= window.openir ? createDesktopTransport(window.openir) : createWebTransport();
  return current;
}

export function getApi(): OpenIrApi {
  return getTransport().api;
}

export function createWebApi(): OpenIrApi {
  return createWebTransport().api;
}

/** IPC cannot drop while the window lives, so the desktop connection is always up. */
export function createDesktopTransport(api: OpenIrApi): Transport {
  return {
    kind: 'desktop',
    api,
    connection: { state: () => 'connected', subscribe: () => () => undefined },
  };
}

export interface WebTransportOptions {
  /** The page's URL; operations and the event socket are resolved against it. */
  baseUrl?: string;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
}

export function createWebTransport(options: WebTransportOptions = {}): Transport {
  const baseUrl = options.baseUrl ?? document.baseURI;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const Socket = options.WebSocket ?? WebSocket;

  const eventListeners = new Map<EventName, Set<(payload: unknown) => void>>();
  const connectionListeners = new Set<(state: ConnectionState, resumed: boolean) => void>();
  let state: ConnectionState = 'connecting';
  let socket: WebSocket | null = null;
  let failures = 0;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  let started = false;

  const setState = (next: ConnectionState, resumed = false) => {
    if (next === state && !resumed) return;
    state = next;
    for (const listener of [...connectionListeners]) listener(next, resumed);
  };

  const expireSession = () => {
    if (reconnectTimer) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    socket?.close();
    socket = null;
    setState('session-expired');
  };

  async function call(name: OperationName, input: unknown): Promise<unknown> {
    // Relative to the page (served at `/`), so the same build works behind any base path.
    const url = new URL(`api/v1/ops/${name}`, baseUrl);
    let response: Response;
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input ?? {}),
        credentials: 'same-origin',
      });
    } catch {
      throw apiError({
        code: 'HOST_NOT_RUNNING',
        message: `${HOST_UNREACHABLE_MESSAGE} It may have stopped, or this machine lost its loopback network.`,
        fix: 'Check that `openir serve` is still running; start it again and open the URL it prints if it is not.',
      });
    }
    const body = await readJson(response);
    if (response.ok) {
      if (body === undefined) throw malformedAnswer(name, response);
      return body;
    }
    const error = errorBodyOf(body);
    if (response.status === 401 && !(error && CREDENTIAL_ERROR_CODES.has(error.code))) {
      expireSession();
      throw apiError({
        code: 'UNAUTHORIZED',
        message: SESSION_EXPIRED_MESSAGE,
        fix: 'Run `openir ui-url` on the host and open the link it prints (each link, and the URL `openir serve` printed, works once).',
      });
    }
    if (error) throw apiError(error);
    throw malformedAnswer(name, response);
  }

  /** A socket that failed to open may mean an expired session (or a restarted host): one request tells. */
  const probeSession = () => {
    call('getStatus', {}).catch(() => undefined);
  };

  const scheduleReconnect = () => {
    if (reconnectTimer || state === 'session-expired') return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** failures);
    failures += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      open();
    }, delay);
  };

  function open(): void {
    if (state === 'session-expired') return;
    const url = new URL(WEB_EVENTS_PATH, baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let opened = false;
    let ws: WebSocket;
    try {
      ws = new Socket(url);
    } catch {
      setState('reconnecting');
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      opened = true;
      const resumed = failures > 0 || state === 'reconnecting';
      failures = 0;
      setState('connected', resumed);
    };
    ws.onmessage = (message: MessageEvent) => {
      if (typeof message.data !== 'string') return;
      dispatch(message.data);
    };
    ws.onclose = (event: CloseEvent) => {
      if (socket !== ws) return;
      socket = null;
      if (state === 'session-expired') return;
      // The host closes the event socket with this code when the session expires or is evicted.
      if (event.code === WEB_SESSION_ENDED_CLOSE_CODE) return expireSession();
      setState('reconnecting');
      if (!opened) probeSession();
      scheduleReconnect();
    };
  }

  function dispatch(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!isRecord(frame) || typeof frame.event !== 'string' || !isRecord(frame.payload)) return;
    const event = EVENT_NAME_LIST.find((name) => name === frame.event);
    if (!event) return;
    for (const listener of [...(eventListeners.get(event) ?? [])]) {
      try {
        listener(frame.payload);
      } catch (error) {
        console.error(`OpenIR: a listener of "${event}" failed`, error);
      }
    }
  }

  const start = () => {
    if (started) return;
    started = true;
    open();
  };

  function subscribe<E extends EventName>(
    event: E,
    listener: (payload: EventPayload<E>) => void,
  ): () => void {
    start();
    let set = eventListeners.get(event);
    if (!set) eventListeners.set(event, (set = new Set()));
    // The host sends payloads of the contract's shape for this event name.
    const wrapped = listener as (payload: unknown) => void;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }

  const api: Record<string, unknown> = {};
  for (const name of OPERATION_NAME_LIST) api[name] = (input: unknown) => call(name, input);
  for (const event of EVENT_NAME_LIST) {
    api[eventMethodName(event)] = (listener: (payload: EventPayload<typeof event>) => void) =>
      subscribe(event, listener);
  }

  return {
    kind: 'web',
    // Built from the contract's name lists, so a new operation or event needs no change here.
    api: api as OpenIrApi,
    connection: {
      state: () => state,
      subscribe: (listener) => {
        start();
        connectionListeners.add(listener);
        return () => {
          connectionListeners.delete(listener);
        };
      },
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readJson(response: Response): Promise<unknown> {
  try {
    const text = await response.text();
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function errorBodyOf(body: unknown): ErrorBody | null {
  if (!isRecord(body) || !isRecord(body.error)) return null;
  const { code, message, fix } = body.error;
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  // Codes are the host's; an unknown newer code is still shown with its message.
  return { code: code as ErrorBody['code'], message, ...(typeof fix === 'string' ? { fix } : {}) };
}

function malformedAnswer(name: OperationName, response: Response): ApiError {
  return apiError({
    code: 'INTERNAL',
    message: `The OpenIR host gave an unexpected answer to ${name} (HTTP ${response.status}).`,
    fix: 'Make sure the page and the host are the same OpenIR version: reload the page.',
  });
}
