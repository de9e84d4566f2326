/**
 * Unit tests of the browser transport's timing and error mapping. fetch and
 * WebSocket are injected stand-ins so time can be controlled; the real
 * transport against a real `openir serve` is exercised by e2e/web.spec.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebTransport, SESSION_EXPIRED_MESSAGE } from '../../src/renderer/transport';
import { mergeLogs } from '../../src/renderer/features/logging/logs';

class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onmessage: ((m: { data: unknown }) => void) | null = null;
  constructor(readonly url: URL) {
    FakeSocket.all.push(this);
  }
  close(code = 1006) {
    this.onclose?.({ code });
  }
  open() {
    this.onopen?.();
  }
  send(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

afterEach(() => {
  FakeSocket.all = [];
  vi.useRealTimers();
});

describe('web transport', () => {
  it('posts operations relative to the page and returns their output', async () => {
    const fetch = vi.fn(async () => json(200, { level: 'info' }));
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    await expect(t.api.setLogLevel({ level: 'info' })).resolves.toEqual({ level: 'info' });
    const [url, init] = fetch.mock.calls[0] as unknown as [URL, RequestInit];
    expect(String(url)).toBe('http://127.0.0.1:9/api/v1/ops/setLogLevel');
    expect(init).toMatchObject({ method: 'POST', credentials: 'same-origin', body: '{"level":"info"}' });
  });

  it('rejects with the host error, keeps key 401s apart from session expiry', async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(
        json(401, { error: { code: 'AUTH_KEY_INVALID', message: 'bad key', fix: 'copy it' } }),
      )
      .mockResolvedValueOnce(json(401, { error: { code: 'UNAUTHORIZED', message: 'Not signed in' } }));
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    await expect(t.api.register({ authKey: 'x' })).rejects.toMatchObject({
      code: 'AUTH_KEY_INVALID',
      fix: 'copy it',
    });
    expect(t.connection.state()).not.toBe('session-expired');
    await expect(t.api.getStatus({})).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: SESSION_EXPIRED_MESSAGE,
    });
    expect(t.connection.state()).toBe('session-expired');
  });

  it('turns a network failure into HOST_NOT_RUNNING', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    await expect(t.api.getStatus({})).rejects.toMatchObject({ code: 'HOST_NOT_RUNNING' });
  });

  it('dispatches frames, reconnects with backoff and reports the resume', async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(async () => json(200, {}));
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    const logs: unknown[] = [];
    t.api.onLog((e) => logs.push(e));
    const states: string[] = [];
    t.connection.subscribe((s, resumed) => states.push(`${s}${resumed ? '+resumed' : ''}`));
    expect(FakeSocket.all).toHaveLength(1);
    expect(String(FakeSocket.all[0]!.url)).toBe('ws://127.0.0.1:9/api/v1/events');
    FakeSocket.all[0]!.open();
    FakeSocket.all[0]!.send({
      event: 'log',
      payload: { time: 't', level: 'info', source: 's', message: 'm' },
    });
    FakeSocket.all[0]!.send({ event: 'nope', payload: {} });
    expect(logs).toHaveLength(1);
    FakeSocket.all[0]!.close();
    expect(t.connection.state()).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1]!.close(); // never opened: probes the session, waits 1 s
    expect(fetch).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.all[2]!.open();
    expect(states).toEqual(['connected', 'reconnecting', 'connected+resumed']);
  });

  it('shows the session expired at once when the host closes the socket for it, and stops reconnecting', async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(async () => json(200, {}));
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    t.api.onStatusChanged(() => undefined);
    FakeSocket.all[0]!.open();
    FakeSocket.all[0]!.close(4401);
    expect(t.connection.state()).toBe('session-expired');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(fetch).not.toHaveBeenCalled();
  });

  it('caps the backoff at 5 s', async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(async () => json(200, {}));
    const t = createWebTransport({ baseUrl: 'http://127.0.0.1:9/', fetch, WebSocket: FakeSocket as never });
    t.api.onStatusChanged(() => undefined);
    for (let i = 0; i < 6; i += 1) {
      FakeSocket.all.at(-1)!.close();
      await vi.advanceTimersByTimeAsync(5000);
    }
    const before = FakeSocket.all.length;
    FakeSocket.all.at(-1)!.close();
    await vi.advanceTimersByTimeAsync(4999);
    expect(FakeSocket.all.length).toBe(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all.length).toBe(before + 1);
  });
});

describe('mergeLogs', () => {
  const e = (time: string, message: string) => ({ time, level: 'info' as const, source: 'host', message });
  it('adds only unseen entries, in time order, capped', () => {
    const base = [e('1', 'a'), e('3', 'c')];
    expect(mergeLogs(base, [e('3', 'c'), e('2', 'b'), e('4', 'd')], 3).map((x) => x.message)).toEqual([
      'b',
      'c',
      'd',
    ]);
  });
});
