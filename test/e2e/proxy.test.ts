import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import {
  makeNode,
  processArgsAndEnv,
  stopAllNodes,
  type CliResult,
  type StatusJson,
  type TestNode,
} from '../helpers/node';
import { startTinyproxy, stopAllTinyproxies, tinyproxyAvailable, type Tinyproxy } from '../helpers/tinyproxy';
import { freePort as freePortHelper } from '../helpers/node';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';

/**
 * All traffic to the control plane through a real tinyproxy on loopback:
 * registration and the control channel pass through it (its log shows the
 * CONNECTs), and each way it can go wrong has its own error.
 */
const PASSWORD = 'pr0xy-Secret-Passw0rd';
const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };

interface ProxyView {
  settings: { mode: string };
  hasPassword: boolean;
  route: { kind: string; proxy: string | null; reason: string } | null;
}
interface TestReport {
  ok: boolean;
  steps: { step: string; ok: boolean; ms: number }[];
  error: { code: string; message: string } | null;
}

function errorCode(result: CliResult): string | undefined {
  const json = result.json as { error?: { code: string } } | null;
  return json?.error?.code;
}

if (!tinyproxyAvailable) console.log('skipped: proxy tests need tinyproxy (apt-get install tinyproxy)');

describe.runIf(tinyproxyAvailable)('HTTP proxy', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  let authProxy: Tinyproxy;
  let openProxy: Tinyproxy;

  beforeAll(async () => {
    cp = await startControlPlane({ ...HEARTBEAT });
    key = (await cp.createIr('proxied-ir')).key1;
    authProxy = await startTinyproxy({
      connectPorts: [cp.port],
      basicAuth: { user: 'alice', password: PASSWORD },
    });
    openProxy = await startTinyproxy({ connectPorts: [cp.port] });
  });

  afterAll(async () => {
    await stopAllNodes();
    await stopAllTinyproxies();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  /**
   * `openir proxy test` of an unsaved custom proxy on loopback: against the
   * key's control plane (before registration) unless `registered`.
   */
  const testThrough = (
    node: TestNode,
    port: number,
    opts: { user?: string; password?: string; registered?: boolean } = {},
  ) =>
    node.cli(
      [
        'proxy',
        'test',
        '--json',
        ...(opts.registered ? [] : ['--key-stdin']),
        '--mode',
        'custom',
        '--address',
        '127.0.0.1',
        '--port',
        String(port),
        ...(opts.user ? ['--user', opts.user, '--password-stdin'] : []),
      ],
      opts.registered ? opts.password : key,
    );

  const setCustom = (node: TestNode, proxy: Tinyproxy, password?: string) =>
    node.cli(
      [
        'proxy',
        'set',
        '--json',
        '--mode',
        'custom',
        '--address',
        '127.0.0.1',
        '--port',
        String(proxy.port),
        ...(password !== undefined ? ['--user', 'alice', '--password-stdin'] : []),
      ],
      password,
    );

  describe('custom proxy with Basic authentication', () => {
    const node = makeNode({}, 'proxied');

    it('can be set before registration; the password is only reported as saved', async () => {
      await node.startHost();
      // Later nodes join this IR too: the HA rule wants remote access on every node.
      await node.enableRemoteAccess();
      const set = await setCustom(node, authProxy, PASSWORD);
      expect(set.code).toBe(0);
      const view = set.json as ProxyView;
      expect(view).toMatchObject({ settings: { mode: 'custom' }, hasPassword: true });
      expect(set.stdout).not.toContain(PASSWORD);
    });

    it('tests every step through the proxy before registering', async () => {
      const before = authProxy.connects().length;
      const test = await node.cli(['proxy', 'test', '--json', '--key-stdin'], key);
      expect(test.code).toBe(0);
      const report = test.json as TestReport;
      expect(report.ok).toBe(true);
      expect(report.steps.map((s) => s.step)).toEqual([
        'resolve',
        'connect',
        'tunnel',
        'tls',
        'controlPlane',
      ]);
      expect(report.steps.every((s) => s.ok && s.ms >= 0)).toBe(true);
      expect(authProxy.connects().length).toBeGreaterThan(before);
    });

    it('registers and keeps the control channel through the proxy (its log shows the CONNECTs)', async () => {
      const before = authProxy.connects().length;
      const result = await node.cli(['register', '--key-stdin', '--json'], key);
      expect(result.code).toBe(0);
      expect((result.json as StatusJson).status).toBe('Online');
      const connects = authProxy.connects().slice(before);
      // Probe, registration and control channel: three tunnels to the control plane's port.
      expect(
        connects.filter((line) => line.includes(`CONNECT 127.0.0.1:${cp.port}`)).length,
      ).toBeGreaterThanOrEqual(3);
      const view = (await node.cli(['proxy', 'show', '--json'])).json as ProxyView;
      expect(view.route).toMatchObject({ kind: 'proxy', proxy: authProxy.url });
    });

    it('a wrong password gives the 407-specific error', async () => {
      const test = await testThrough(node, authProxy.port, {
        registered: true,
        user: 'alice',
        password: 'not-the-password',
      });
      expect(test.code).toBe(1);
      expect((test.json as TestReport).error?.code).toBe('PROXY_AUTH_FAILED');
      expect(test.stderr).toMatch(/user name or password/);
      const noCredentials = await testThrough(node, authProxy.port, { registered: true });
      expect((noCredentials.json as TestReport).error?.code).toBe('PROXY_AUTH_FAILED');
      expect(noCredentials.stderr).toMatch(/requires a user name and password/);
    });

    it('never writes the proxy password in plain text: config, logs, argv, environment, API output', async () => {
      expect(filesContaining(node.home, PASSWORD)).toEqual([]);
      expect(node.output()).not.toContain(PASSWORD);
      const status = (await node.cli(['status', '--json'])).json as StatusJson;
      expect(processArgsAndEnv(status.host.pid)).not.toContain(PASSWORD);
      expect((await node.cli(['proxy', 'show', '--json'])).stdout).not.toContain(PASSWORD);
      const config = JSON.parse(fs.readFileSync(path.join(node.home, 'config.json'), 'utf8'));
      expect(config.proxy).toEqual({
        mode: 'custom',
        address: '127.0.0.1',
        port: authProxy.port,
        user: 'alice',
      });
    });

    it('switching the proxy at runtime restarts the service and reconnects through the new one', async () => {
      const before = openProxy.connects().length;
      const set = await setCustom(node, openProxy);
      expect(set.code).toBe(0);
      const online = await node.waitForStatus((s) => s.status === 'Online', 15_000);
      expect(online.registered).toBe(true);
      expect(
        openProxy
          .connects()
          .slice(before)
          .some((l) => l.includes(`CONNECT 127.0.0.1:${cp.port}`)),
      ).toBe(true);
      expect(((await node.cli(['proxy', 'show', '--json'])).json as ProxyView).route?.proxy).toBe(
        openProxy.url,
      );
    });

    it('survives a host restart (the setting and password are persisted)', async () => {
      await setCustom(node, authProxy, PASSWORD);
      await node.kill();
      await node.startHost();
      const view = (await node.cli(['proxy', 'show', '--json'])).json as ProxyView;
      expect(view).toMatchObject({
        settings: { mode: 'custom' },
        hasPassword: true,
        route: { proxy: authProxy.url },
      });
      await node.waitForStatus((s) => s.status === 'Online', 15_000);
    });
  });

  it('a proxy that is down gives a proxy-specific error', async () => {
    const node = makeNode();
    await node.startHost();
    const port = await freePortHelper();
    const test = await testThrough(node, port);
    expect(test.code).toBe(1);
    const report = test.json as TestReport;
    expect(report.error?.code).toBe('PROXY_UNREACHABLE');
    expect(report.steps.find((s) => !s.ok)?.step).toBe('connect');
    await setCustom(node, { port } as Tinyproxy);
    const register = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(errorCode(register)).toBe('PROXY_UNREACHABLE');
  });

  it('a proxy that refuses the tunnel gives PROXY_REFUSED', async () => {
    const strict = await startTinyproxy({ connectPorts: [443] });
    const node = makeNode();
    await node.startHost();
    const test = await testThrough(node, strict.port);
    expect((test.json as TestReport).error?.code).toBe('PROXY_REFUSED');
  });

  it('an NTLM-only proxy is named as unsupported, with what to do', async () => {
    // No NTLM proxy can be installed here, so this stand-in answers every CONNECT the way one does.
    const ntlm = net.createServer((socket) => {
      socket.once('data', () =>
        socket.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n',
        ),
      );
    });
    await new Promise<void>((resolve) => ntlm.listen(0, '127.0.0.1', resolve));
    const node = makeNode();
    await node.startHost();
    const port = (ntlm.address() as net.AddressInfo).port;
    const test = await testThrough(node, port);
    ntlm.close();
    const report = test.json as TestReport;
    expect(report.error?.code).toBe('PROXY_AUTH_UNSUPPORTED');
    expect(report.error?.message).toMatch(/NTLM or Negotiate \(Kerberos\) authentication/);
  });

  it('system mode follows HTTPS_PROXY, and NO_PROXY bypasses it', async () => {
    const viaEnv = makeNode({ HTTPS_PROXY: openProxy.url, NO_PROXY: '' }, 'sysproxy');
    await viaEnv.startHost();
    await viaEnv.enableRemoteAccess();
    expect((await viaEnv.cli(['proxy', 'set', '--mode', 'system', '--json'])).code).toBe(0);
    const before = openProxy.connects().length;
    expect((await viaEnv.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    expect(openProxy.connects().length).toBeGreaterThan(before);
    expect(((await viaEnv.cli(['proxy', 'show', '--json'])).json as ProxyView).route).toMatchObject({
      kind: 'proxy',
      reason: expect.stringContaining('HTTPS_PROXY'),
    });

    const bypass = makeNode({ HTTPS_PROXY: openProxy.url, NO_PROXY: 'localhost,127.0.0.1' }, 'noproxy');
    await bypass.startHost();
    await bypass.enableRemoteAccess();
    await bypass.cli(['proxy', 'set', '--mode', 'system', '--json']);
    const mark = openProxy.connects().length;
    expect((await bypass.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    expect(openProxy.connects().length).toBe(mark);
    expect(((await bypass.cli(['proxy', 'show', '--json'])).json as ProxyView).route).toMatchObject({
      kind: 'direct',
      reason: expect.stringContaining('NO_PROXY'),
    });
  });
});
