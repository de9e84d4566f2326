import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGN_IN_LINK_TTL_MS, SignInLinks, signInLink } from '../../src/web/signInLink';
import { rawRequest } from '../helpers/http';
import { runCli } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';
import { startWebHost, type WebHost } from '../helpers/webHost';

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
    const cookie = (used.headers['set-cookie']?.[0] ?? '').split(';')[0] as string;
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
