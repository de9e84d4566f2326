import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/http';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';
import { startWebHost, type WebHost } from '../helpers/webHost';

/** The headless host's web binding: a real `openir serve` process, probed over loopback. */
describe('openir serve web UI', () => {
  let web: WebHost;
  let cookie = '';

  beforeAll(async () => {
    web = await startWebHost({ OPENIR_VAULT: 'file' });
  });
  afterAll(async () => {
    await web.stop();
    cleanupTempDirs();
  });

  it('binds to 127.0.0.1 and prints a URL with a token', () => {
    expect(web.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
  });

  it('refuses requests without the token (401)', async () => {
    expect((await rawRequest(`${web.origin}/`)).status).toBe(401);
    expect((await rawRequest(`${web.origin}/?token=not-the-token`)).status).toBe(401);
    const api = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, { method: 'POST', body: '{}' });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body).error.code).toBe('UNAUTHORIZED');
  });

  it('exchanges the token for an HttpOnly, SameSite=Strict, short-lived session cookie named after its port', async () => {
    const res = await rawRequest(web.url);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    const setCookie = res.headers['set-cookie']?.[0] ?? '';
    // Cookies for 127.0.0.1 reach every port: named per port, two hosts never share or overwrite one.
    expect(setCookie).toMatch(new RegExp(`^openir_session_${web.port}=[A-Za-z0-9_-]{43};`));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Max-Age=1800(;|$)/);
    cookie = setCookie.split(';')[0] as string;
  });

  it('takes the printed token once: the same URL a second time is refused', async () => {
    const again = await rawRequest(web.url);
    expect(again.status).toBe(401);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.body).toContain('openir ui-url');
    // Nor is it a bearer credential for the API.
    const bearer = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${web.token}` },
    });
    expect(bearer.status).toBe(401);
  });

  it('renews the cookie while the session is used, and ignores a cookie of another port', async () => {
    const res = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
      method: 'POST',
      body: '{}',
      headers: { cookie },
    });
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']?.[0]).toMatch(new RegExp(`^${cookie};.*Max-Age=1800`));
    const value = cookie.split('=')[1] as string;
    const otherPort = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
      method: 'POST',
      body: '{}',
      headers: { cookie: `openir_session_${web.port + 1}=${value}` },
    });
    expect(otherPort.status).toBe(401);
  });

  it('serves the UI with a strict CSP to the session', async () => {
    const res = await rawRequest(`${web.origin}/`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.body).toContain('<div id="root">');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('refuses another Host (DNS rebinding) and another Origin with 403', async () => {
    const host = await rawRequest(`${web.origin}/`, {
      headers: { cookie, host: `evil.example:${web.port}` },
    });
    expect(host.status).toBe(403);
    const origin = await rawRequest(`${web.origin}/api/v1/ops/stopService`, {
      method: 'POST',
      body: '{}',
      headers: { cookie, origin: 'http://evil.example' },
    });
    expect(origin.status).toBe(403);
    const status = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
      method: 'POST',
      body: '{}',
      headers: { cookie, origin: web.origin },
    });
    expect(JSON.parse(status.body).serviceRunning).toBe(true);
  });

  it('validates operation input with the shared schemas', async () => {
    const res = await rawRequest(`${web.origin}/api/v1/ops/setLogLevel`, {
      method: 'POST',
      body: JSON.stringify({ level: 'loud' }),
      headers: { cookie, origin: web.origin },
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_INPUT');
  });

  it('pushes events over the WebSocket to the session only', async () => {
    const wsUrl = `ws://127.0.0.1:${web.port}/api/v1/events`;
    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
    expect(await refused({ origin: web.origin })).toBe(401);
    expect(await refused({ cookie, origin: 'http://evil.example' })).toBe(403);

    const ws = new WebSocket(wsUrl, { headers: { cookie, origin: web.origin } });
    const frames: { event: string; payload: { status?: string } }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((resolve) => ws.once('open', resolve));
    await rawRequest(`${web.origin}/api/v1/ops/stopService`, {
      method: 'POST',
      body: '{}',
      headers: { cookie, origin: web.origin },
    });
    const deadline = Date.now() + 5000;
    while (
      !frames.some((f) => f.event === 'statusChanged' && f.payload.status === 'Stopped') &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ws.close();
    expect(frames.some((f) => f.event === 'statusChanged' && f.payload.status === 'Stopped')).toBe(true);
    expect(frames.some((f) => f.event === 'log')).toBe(true);
  });

  it('pushes proxyChanged, remoteAccessChanged, certificatesChanged and jobSettingsChanged with the get answers', async () => {
    const call = async (name: string, input: unknown = {}) => {
      const res = await rawRequest(`${web.origin}/api/v1/ops/${name}`, {
        method: 'POST',
        body: JSON.stringify(input),
        headers: { cookie, origin: web.origin, 'content-type': 'application/json' },
      });
      expect(res.status, `${name}: ${res.body}`).toBe(200);
      return JSON.parse(res.body) as unknown;
    };
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/v1/events`, {
      headers: { cookie, origin: web.origin },
    });
    const frames: { event: string; payload: unknown }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((resolve) => ws.once('open', resolve));
    const latest = async (event: string) => {
      const deadline = Date.now() + 5000;
      while (!frames.some((f) => f.event === event) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return frames.filter((f) => f.event === event).at(-1)?.payload;
    };

    await call('setProxy', { mode: 'custom', address: 'proxy.corp.example', port: 3128 });
    expect(await latest('proxyChanged')).toEqual(await call('getProxy'));
    expect(await latest('proxyChanged')).toMatchObject({ settings: { address: 'proxy.corp.example' } });

    // The service was stopped above, so the listener does not start: the setting is saved and pushed.
    await call('setRemoteAccess', { mode: 'plain', port: 18061 });
    expect(await latest('remoteAccessChanged')).toEqual(await call('getRemoteAccess'));
    expect(await latest('remoteAccessChanged')).toMatchObject({ settings: { mode: 'plain', port: 18061 } });

    const made = (await call('createSelfSignedCertificate', {})) as { thumbprint: string };
    expect(await latest('certificatesChanged')).toEqual(await call('listCertificates'));
    expect(await latest('certificatesChanged')).toMatchObject({
      certificates: [{ thumbprint: made.thumbprint }],
    });

    await call('allowFolder', { path: web.home });
    expect(await latest('jobSettingsChanged')).toEqual(await call('getJobSettings'));
    expect(await latest('jobSettingsChanged')).toMatchObject({ allowedFolders: [fs.realpathSync(web.home)] });
    ws.close();
  });

  it('never writes the token to disk or the log', () => {
    expect(filesContaining(web.home, web.token)).toEqual([]);
    expect(fs.existsSync(path.join(web.home, 'logs', 'openir.log'))).toBe(true);
    // It appears exactly once: in the URL printed on stdout.
    expect(web.output().split(web.token).length - 1).toBe(1);
  });
});
