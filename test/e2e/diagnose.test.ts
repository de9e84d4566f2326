import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TroubleshootReport } from '../../src/shared/troubleshoot';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { freePort, makeNode, stopAllNodes, type CliResult, type StatusJson } from '../helpers/node';
import { startTinyproxy, stopAllTinyproxies, tinyproxyAvailable, type Tinyproxy } from '../helpers/tinyproxy';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';
import { heartbeat, registerOk, TestChannel } from '../control-plane/support';

/**
 * `openir diagnose` against real parts: a control plane process, two real
 * host processes in one IR (a real peer with its remote-access listener),
 * a real tinyproxy, a plain HTTP data store, and one scripted peer that
 * advertises a closed port. Each broken part makes the check that owns it
 * the first failure, with its code and fix, and every later check is still
 * reported (run, or skipped with the reason).
 */
const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
const ORDER_HEAD = ['dataDir', 'vault', 'clock', 'dns', 'tcp', 'proxy', 'tls', 'nodeCredential', 'channel'];

const report = (result: CliResult) => result.json as TroubleshootReport;
const byId = (r: TroubleshootReport, id: string) => {
  const check = r.checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in ${r.checks.map((c) => c.id).join(', ')}`);
  return check;
};

describe('openir diagnose (troubleshoot report)', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  const node1 = makeNode({ OPENIR_PEER_SYNC_INTERVAL_MS: '500' }, 'diag1');
  const node2 = makeNode({ OPENIR_PEER_SYNC_INTERVAL_MS: '500' }, 'diag2');
  const store = http.createServer((_req, res) => res.end('ok'));
  let storeUrl = '';
  const files = tempDir('openir-diag-files-');

  const diagnose = (...args: string[]) => node1.cli(['diagnose', '--json', ...args]);

  beforeAll(async () => {
    await new Promise<void>((resolve) => store.listen(0, '127.0.0.1', resolve));
    storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}/`;
    cp = await startControlPlane(HEARTBEAT);
    key = (await cp.createIr('diag-ir', ['--join-approval', 'auto'])).key1;
    await Promise.all([node1.startHost(), node2.startHost()]);
    await node1.enableRemoteAccess();
    expect((await node1.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    await node2.enableRemoteAccess();
    expect((await node2.cli(['register', '--key-stdin', '--json'], key)).code).toBe(0);
    expect((await node1.cli(['config', 'allow-folder', files, '--json'])).code).toBe(0);
    const local = await node1.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', files]);
    expect(local.code, local.stderr).toBe(0);
    const web = await node1.cli(['credential', 'set', 'web', '--type', 'http', '--base-url', storeUrl]);
    expect(web.code, web.stderr).toBe(0);
    await node1.waitForStatus(
      (s) => s.status === 'Online' && s.irNodes.filter((n) => n.status === 'Online').length === 2,
      30_000,
    );
  }, 120_000);

  afterAll(async () => {
    store.close();
    await stopAllNodes();
    await stopAllTinyproxies();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('a healthy registered node: every check passes, in order, and every port is open', async () => {
    const result = await diagnose();
    const r = report(result);
    expect(result.code, JSON.stringify(r.firstFailure)).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.firstFailure).toBeNull();
    expect(r.checks.map((c) => c.id)).toEqual([
      ...ORDER_HEAD,
      'peer:diag2',
      'remoteAccess',
      'dataStore:files',
      'dataStore:web',
    ]);
    for (const check of r.checks) expect(check.result, `${check.id}: ${check.detail}`).toBe('passed');
    expect(byId(r, 'peer:diag2').steps?.map((s) => s.result)).toEqual(['passed', 'skipped', 'passed']);
    expect(byId(r, 'channel').detail).toMatch(/Heartbeat acknowledged in [\d.]+ ms/);
    expect(r.node).toMatchObject({ name: 'diag1', ir: 'diag-ir', controlPlane: cp.endpoint });
    expect(r.ports.map((p) => [p.direction, p.purpose, p.result])).toEqual([
      ['reach', 'Control plane', 'open'],
      ['reach', 'Peer diag2 (remote access)', 'open'],
      ['reach', 'Data store web (http)', 'open'],
      ['serve', 'This node (remote access)', 'open'],
    ]);
    expect(r.ports[0]).toMatchObject({ host: '127.0.0.1', port: cp.port, tls: true, viaProxy: false });

    // The readable table: the summary on top, the checks numbered in order, the ports after.
    const text = await node1.cli(['diagnose']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe('All checks passed.');
    expect(text.stdout).toMatch(/ 9\. Control channel round trip\s+passed/);
    expect(text.stdout).toMatch(/Ports:\n {2}reach Control plane/);
  }, 120_000);

  it('--html writes one self-contained page with no script', async () => {
    const file = path.join(tempDir('openir-diag-html-'), 'report.html');
    const result = await node1.cli(['diagnose', '--html', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`HTML report written to ${file}.`);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('All checks passed.');
    expect(html).toContain('Peer diag2: TCP, TLS pin, sealed health');
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/[^"<\s]*\.(css|js)/i);
    // Atomic: no temp file left beside it.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['report.html']);
  }, 120_000);

  it('a peer whose remote-access port is closed: its check fails first with PEERS_UNREACHABLE; its port row says refused', async () => {
    const closed = await freePort();
    const ghost = await registerOk(key, {
      nodeName: 'ghost',
      remoteAccessUrl: `http://127.0.0.1:${closed}`,
    });
    const channel = await TestChannel.open(cp.endpoint, ghost);
    channel.send(heartbeat({ remoteAccessUrl: `http://127.0.0.1:${closed}` }));
    const beat = setInterval(
      () => channel.send(heartbeat({ remoteAccessUrl: `http://127.0.0.1:${closed}` })),
      300,
    );
    try {
      await node1.waitForStatus(
        (s) => s.irNodes.some((n) => n.name === 'ghost' && n.status !== 'Offline'),
        20_000,
      );
      const result = await diagnose();
      const r = report(result);
      expect(result.code).toBe(1);
      expect(r.firstFailure).toMatchObject({
        checkId: 'peer:ghost',
        error: { code: 'PEERS_UNREACHABLE', fix: expect.stringContaining('firewall') },
      });
      expect(byId(r, 'peer:ghost').steps?.[0]).toMatchObject({
        result: 'failed',
        detail: expect.stringContaining('refused'),
      });
      // Everything after it still ran.
      expect(byId(r, 'peer:diag2').result).toBe('passed');
      expect(byId(r, 'remoteAccess').result).toBe('passed');
      expect(byId(r, 'dataStore:web').result).toBe('passed');
      const rows = Object.fromEntries(r.ports.map((p) => [p.purpose, p.result]));
      expect(rows['Peer ghost (remote access)']).toBe('refused');
      expect(rows['Peer diag2 (remote access)']).toBe('open');
    } finally {
      clearInterval(beat);
      // Its channel closed, the scripted peer is Offline: no longer one this node must reach.
      channel.close();
      await node1.waitForStatus(
        (s) => s.irNodes.some((n) => n.name === 'ghost' && n.status === 'Offline'),
        20_000,
      );
    }
  }, 120_000);

  it.runIf(tinyproxyAvailable)(
    'a wrong proxy password: the proxy check fails first with PROXY_AUTH_FAILED, step by step',
    async () => {
      const proxy: Tinyproxy = await startTinyproxy({
        connectPorts: [cp.port],
        basicAuth: { user: 'alice', password: 'the-right-one' },
      });
      const set = await node1.cli(
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
          '--user',
          'alice',
          '--password-stdin',
        ],
        'a-wrong-password',
      );
      expect(set.code, set.stderr).toBe(0);
      try {
        const result = await diagnose();
        const r = report(result);
        expect(result.code).toBe(1);
        expect(r.firstFailure).toMatchObject({
          checkId: 'proxy',
          error: { code: 'PROXY_AUTH_FAILED', fix: expect.stringContaining('proxy user and password') },
        });
        expect(byId(r, 'tcp')).toMatchObject({ result: 'passed', detail: expect.stringContaining('proxy') });
        expect(byId(r, 'proxy').steps?.map((s) => s.result)).toEqual(['passed', 'passed', 'failed']);
        for (const id of ['tls', 'nodeCredential', 'channel']) {
          expect(byId(r, id)).toMatchObject({
            result: 'skipped',
            detail: 'Not run: "Proxy, step by step" failed.',
          });
        }
        expect(byId(r, 'clock').result).toBe('skipped');
        expect(byId(r, 'dataStore:files').result).toBe('passed');
        expect(r.ports[0]).toMatchObject({ purpose: 'Control plane', viaProxy: true, result: 'error' });
        // The password is never in the report.
        expect(result.stdout).not.toContain('a-wrong-password');
      } finally {
        expect((await node1.cli(['proxy', 'set', '--mode', 'none', '--json'])).code).toBe(0);
      }
      await node1.waitForStatus((s) => s.status === 'Online', 30_000);
    },
    120_000,
  );

  it('a wrong pin: the TLS check fails first with CONTROL_PLANE_TLS_PIN_MISMATCH', async () => {
    const configFile = path.join(node1.home, 'config.json');
    const original = fs.readFileSync(configFile, 'utf8');
    const config = JSON.parse(original) as { registration: { pin: string } };
    config.registration.pin = Buffer.alloc(32, 7).toString('base64');
    await node1.kill();
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    await node1.startHost();
    try {
      const result = await diagnose();
      const r = report(result);
      expect(result.code).toBe(1);
      expect(r.firstFailure).toMatchObject({
        checkId: 'tls',
        error: { code: 'CONTROL_PLANE_TLS_PIN_MISMATCH', fix: expect.stringContaining('intercepting') },
      });
      for (const id of ['dataDir', 'vault', 'clock', 'dns', 'tcp', 'proxy'])
        expect(byId(r, id).result).toBe('passed');
      expect(byId(r, 'nodeCredential').result).toBe('skipped');
      expect(byId(r, 'channel').result).toBe('skipped');
    } finally {
      await node1.kill();
      fs.writeFileSync(configFile, original);
      await node1.startHost();
    }
    await node1.waitForStatus((s: StatusJson) => s.status === 'Online', 30_000);
  }, 120_000);

  it('the control plane down: TCP connect fails first with its fix; later checks skipped or still run', async () => {
    await cp.stop();
    const result = await diagnose();
    const r = report(result);
    expect(result.code).toBe(1);
    expect(r.firstFailure).toMatchObject({
      checkId: 'tcp',
      label: 'TCP connect',
      error: {
        code: 'CONTROL_PLANE_UNREACHABLE',
        message: expect.stringContaining('refused'),
        fix: expect.stringContaining('control plane is running'),
      },
    });
    expect(byId(r, 'clock')).toMatchObject({
      result: 'skipped',
      detail: expect.stringContaining("Could not read the control plane's clock"),
    });
    for (const id of ['proxy', 'tls', 'nodeCredential', 'channel']) {
      expect(byId(r, id)).toMatchObject({ result: 'skipped', detail: 'Not run: "TCP connect" failed.' });
    }
    // Independent checks still ran; the peers as the control plane last listed them, too. The peer's
    // port answers, but without its own control channel it knows no peers and refuses the sealed exchange.
    expect(byId(r, 'peer:diag2')).toMatchObject({
      result: 'failed',
      error: { code: 'PEER_SYNC_REFUSED', fix: expect.stringContaining('control channel is down') },
    });
    expect(byId(r, 'peer:diag2').steps?.[0]).toMatchObject({ result: 'passed' });
    expect(r.ports.find((p) => p.purpose === 'Peer diag2 (remote access)')?.result).toBe('open');
    expect(byId(r, 'remoteAccess').result).toBe('passed');
    expect(byId(r, 'dataStore:files').result).toBe('passed');
    expect(r.ports.find((p) => p.purpose === 'Control plane')?.result).toBe('refused');

    // The table names the first failure on the first line; stderr has the one coded line.
    const text = await node1.cli(['diagnose']);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n')[0]).toBe('FIRST FAILURE: TCP connect [CONTROL_PLANE_UNREACHABLE]');
    expect(text.stderr).toMatch(
      /^openir: TCP connect: Cannot reach the control plane .*\[CONTROL_PLANE_UNREACHABLE\]$/m,
    );
  }, 120_000);

  it('--json errors are one { error: { code, message, fix } } object', async () => {
    const result = await node1.cli([
      'diagnose',
      '--json',
      '--html',
      path.join(files, 'no', 'such', 'dir.html'),
    ]);
    expect(result.code).toBe(1);
    expect(result.json).toEqual({
      error: {
        code: 'INVALID_INPUT',
        message: expect.stringContaining('does not exist'),
        fix: expect.any(String),
      },
    });
  });
});
