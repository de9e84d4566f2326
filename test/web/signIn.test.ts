import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WebGuard } from '../../src/web/guard';
import { SIGN_IN_LINK_TTL_MS, SignInLinks, signInLink } from '../../src/web/signInLink';
import { rawRequest } from '../helpers/http';
import { runCli } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';
import { sessionCookieOf, startWebHost, type WebHost } from '../helpers/webHost';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** The Linux service's face: OPENIR_GROUP_ACCESS, --hide-token, and `openir ui-url` links. */
describe('openir ui-url and the service host', () => {
  let web: WebHost;
  const uiUrl = () => runCli(['ui-url', '--json'], { env: web.env });

  beforeAll(async () => {
    web = await startWebHost({ OPENIR_VAULT: 'file', OPENIR_GROUP_ACCESS: '1' }, ['--hide-token']);
  });
  afterAll(async () => {
    await web.stop();
    cleanupTempDirs();
  });

  it('prints the web UI address without its token under --hide-token', () => {
    expect(web.url).toBe(`http://127.0.0.1:${web.port}/`);
    expect(web.output()).not.toContain('token=');
  });

  it("shares the socket and the web UI file with the host's group, and no secret", () => {
    const run = path.join(web.home, 'run');
    expect(mode(web.home)).toBe(0o750);
    expect(mode(run)).toBe(0o750);
    expect(mode(path.join(run, 'host.sock'))).toBe(0o660);
    expect(mode(path.join(run, 'web-ui.json'))).toBe(0o640);
    expect(mode(path.join(web.home, 'config.json'))).toBe(0o600);
  });

  it('signs a fresh link each time, and each works once', async () => {
    const first = await uiUrl();
    const second = await uiUrl();
    expect(first.code).toBe(0);
    const a = (first.json as { url: string; expiresAt: string }).url;
    const b = (second.json as { url: string }).url;
    expect(a).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:${web.port}/\\?token=[\\w-]+\\.\\d+\\.[\\w-]{43}$`),
    );
    expect(b).not.toBe(a);
    const used = await rawRequest(a);
    expect(used.status).toBe(303);
    const cookie = sessionCookieOf(used.headers);
    expect((await rawRequest(`${web.origin}/`, { headers: { cookie } })).status).toBe(200);
    expect((await rawRequest(a)).status).toBe(401);
    expect((await rawRequest(b)).status).toBe(303);
  });

  it('refuses a link whose expiry or signature was changed', async () => {
    const url = ((await uiUrl()).json as { url: string }).url;
    const [nonce, expires, mac] = new URL(url).searchParams.get('token')!.split('.') as [
      string,
      string,
      string,
    ];
    const later = `${web.origin}/?token=${nonce}.${Number(expires) + 60_000}.${mac}`;
    expect((await rawRequest(later)).status).toBe(401);
    const forged = `${web.origin}/?token=${nonce}.${expires}.${'A'.repeat(43)}`;
    expect((await rawRequest(forged)).status).toBe(401);
    expect((await rawRequest(url)).status).toBe(303);
  });
});

describe('sign-in links', () => {
  it('expire after their time', () => {
    let now = 1_000_000;
    const links = new SignInLinks('k'.repeat(43), () => now);
    const file = { url: 'http://127.0.0.1:1/', port: 1, pid: 1, linkKey: links.linkKey };
    const token = new URL(signInLink(file, now)).searchParams.get('token')!;
    now += SIGN_IN_LINK_TTL_MS + 1;
    expect(links.redeem(token)).toBe(false);
    const fresh = new URL(signInLink(file, now)).searchParams.get('token')!;
    expect(links.redeem(fresh)).toBe(true);
    expect(links.redeem(fresh)).toBe(false);
  });

  it('come only from a running web UI, with the fix', async () => {
    const home = tempDir('openir-ui-url-');
    const res = await runCli(['ui-url'], { env: { ...process.env, OPENIR_HOME: home } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('[HOST_NOT_RUNNING]');
    expect(res.stderr).toContain('openir serve');
  });
});

describe('a data directory owned by a service (OPENIR_HOST_SERVICE)', () => {
  it('is never given a second host by the CLI: the error names systemctl', async () => {
    const home = tempDir('openir-service-home-');
    const env = { ...process.env, OPENIR_HOME: home, OPENIR_HOST_SERVICE: 'openir' };
    const res = await runCli(['start'], { env });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('The openir service is not running.');
    expect(res.stderr).toContain('sudo systemctl start openir');
    expect(res.stderr).toContain('[HOST_NOT_RUNNING]');
    expect(fs.existsSync(path.join(home, 'run', 'host.sock'))).toBe(false);
  });
});

describe('web sessions (the guard, on a clock of its own)', () => {
  const limits = { idleMs: 1000, maxAgeMs: 10_000, maxSessions: 3 };

  it('take the printed token once', () => {
    const guard = new WebGuard(limits);
    expect(guard.redeemPrintedToken('x'.repeat(43))).toBe(false);
    expect(guard.redeemPrintedToken(guard.token)).toBe(true);
    expect(guard.redeemPrintedToken(guard.token)).toBe(false);
  });

  it('end when idle, and live on while used until their lifetime', () => {
    let now = 0;
    const guard = new WebGuard(limits, () => now);
    const ended: string[] = [];
    guard.onSessionEnd((s) => ended.push(s));
    const idle = guard.openSession();
    const busy = guard.openSession();
    for (now = 500; now < 9_500; now += 500) expect(guard.useSession(busy)).toBe(true);
    expect(ended).toEqual([idle]);
    expect(guard.useSession(idle)).toBe(false);
    // Being looked at (an open event socket) is not use.
    now = 9_900;
    expect(guard.isAlive(busy)).toBe(true);
    now = 10_000;
    expect(guard.useSession(busy)).toBe(false);
    expect(ended).toEqual([idle, busy]);
    expect(guard.sessionCount).toBe(0);
  });

  it('are capped: signing in past the cap ends the least recently used', () => {
    let now = 0;
    const guard = new WebGuard(limits, () => now);
    const ended: string[] = [];
    guard.onSessionEnd((s) => ended.push(s));
    const [a, b, c] = [guard.openSession(), guard.openSession(), guard.openSession()];
    now = 100;
    expect(guard.useSession(a)).toBe(true);
    const d = guard.openSession();
    expect(ended).toEqual([b]);
    expect(guard.sessionCount).toBe(3);
    expect([a, c, d].every((s) => guard.useSession(s))).toBe(true);
    expect(guard.useSession(b)).toBe(false);
  });
});

describe('a host with short sessions (OPENIR_WEB_SESSION_IDLE_MS)', () => {
  let web: WebHost;

  beforeAll(async () => {
    web = await startWebHost({ OPENIR_VAULT: 'file', OPENIR_WEB_SESSION_IDLE_MS: '4000' });
  });
  afterAll(async () => {
    await web.stop();
    cleanupTempDirs();
  });

  it('ends an idle session: its event socket is closed with 4401 and its cookie is refused', async () => {
    const first = await rawRequest(web.url);
    expect(first.status).toBe(303);
    expect(first.headers['set-cookie']?.[0]).toMatch(/Max-Age=4(;|$)/);
    const cookie = sessionCookieOf(first.headers);
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/v1/events`, {
      headers: { cookie, origin: web.origin },
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    });
    // No timing asserted: the host closes it some time after 4 s of no use.
    expect(await closed).toBe(4401);
    const after = await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
      method: 'POST',
      body: '{}',
      headers: { cookie },
    });
    expect(after.status).toBe(401);
    expect(JSON.parse(after.body).error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(JSON.parse(after.body).error.fix).toContain('openir ui-url');
  });
});

describe('a host with few sessions (OPENIR_WEB_SESSION_MAX)', () => {
  let web: WebHost;
  const status = async (cookie: string) =>
    (
      await rawRequest(`${web.origin}/api/v1/ops/getStatus`, {
        method: 'POST',
        body: '{}',
        headers: { cookie },
      })
    ).status;

  beforeAll(async () => {
    web = await startWebHost({ OPENIR_VAULT: 'file', OPENIR_WEB_SESSION_MAX: '2' });
  });
  afterAll(async () => {
    await web.stop();
    cleanupTempDirs();
  });

  it('keeps at most two sessions: a new sign-in ends the least recently used', async () => {
    const a = await web.signIn();
    const b = await web.signIn();
    expect(await status(a)).toBe(200); // now b is the least recently used
    const c = await web.signIn();
    expect(await status(b)).toBe(401);
    expect(await status(a)).toBe(200);
    expect(await status(c)).toBe(200);
  });
});
