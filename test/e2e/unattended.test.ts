import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import type { IrSummary } from '../../src/shared/controlPlaneApi';
import type { ServeCheckReport } from '../../src/core/serveCheck';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import {
  freePort,
  makeNode,
  processArgsAndEnv,
  runCli,
  stopAllNodes,
  type StatusJson,
} from '../helpers/node';
import { opensslAvailable, selfSignedByOpenssl, toPfx } from '../helpers/openssl';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

type NodesView = IrSummary & {
  maxNodes: number;
  expireOfflineAfter: string | null;
  removedNodes: { nodeId: string; name: string; reason: string }[];
};

/**
 * The unattended start with real processes: the reference control plane and
 * `openir serve` hosts configured only by OPENIR_* variables, as a service
 * install or a container starts them.
 */
describe('unattended start (openir serve from the environment)', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  const files = tempDir('openir-unattended-');
  const keyFile = (name: string, content: string) => {
    const file = path.join(files, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
  };
  let opsKey = '';
  let opsKeyFile = '';
  const registerPosts = (status: number) =>
    cp
      .stderr()
      .split('\n')
      .filter((line) => line.includes(`POST /api/v1/nodes/register ${status}`)).length;
  const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

  beforeAll(async () => {
    // Test-only: the expiry sweep every 200 ms instead of every minute.
    cp = await startControlPlane({ ...HEARTBEAT, env: { OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS: '200' } });
    opsKey = (await cp.createIr('ops')).key1;
    // As an editor or `echo` writes it: with a trailing newline.
    opsKeyFile = keyFile('ops.key', `${opsKey}\n`);
  });

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  const first = makeNode({}, 'edge1');
  let firstNodeId = '';

  it('serve --check: reports what the first start would do, registering nothing', async () => {
    Object.assign(first.env, { OPENIR_AUTH_KEY_FILE: opsKeyFile, OPENIR_NODE_NAME: 'edge-1' });
    const check = await first.cli(['serve', '--check', '--json']);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    const report = check.json as ServeCheckReport;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.check)).toEqual([
      'data directory',
      'configuration',
      'secret store',
      'environment',
      'control plane',
    ]);
    expect(report.wouldDo).toContain(`would register as "edge-1" with an IR key for "ops" at ${cp.endpoint}`);
    const human = await first.cli(['serve', '--check']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ok {3}control plane {4}https:\/\/127\.0\.0\.1:\d+ answers/m);
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'ops'])).nodes).toEqual([]);
  });

  it('serve --check: fails with every reason (bad values, unreadable key, unreachable control plane)', async () => {
    const node = makeNode(
      {
        OPENIR_AUTH_KEY_FILE: path.join(files, 'missing.key'),
        OPENIR_NODE_NAME: 'bad name',
        OPENIR_REMOTE_ACCESS: 'tls',
        OPENIR_PROXY_PORT: '3128',
      },
      'checkbad',
    );
    const bad = await node.cli(['serve', '--check', '--json']);
    expect(bad.code).toBe(1);
    const report = bad.json as ServeCheckReport;
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.detail);
    expect(failed).toEqual([
      expect.stringContaining('missing.key cannot be read: it does not exist'),
      expect.stringContaining("OPENIR_NODE_NAME 'bad name' is not a valid node name"),
      expect.stringContaining('OPENIR_REMOTE_ACCESS=tls needs OPENIR_REMOTE_ACCESS_CERT_FILE'),
      expect.stringContaining('OPENIR_PROXY_PORT is set without OPENIR_PROXY'),
    ]);

    const malformed = makeNode({ OPENIR_AUTH_KEY_FILE: keyFile('bad.key', 'IR@not-a-key\n') }, 'checkbad2');
    const text = await malformed.cli(['serve', '--check']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAIL environment {6}The authentication key is malformed.*bad\.key/m);
    expect(lastLine(text.stderr)).toMatch(/^openir: .*\[AUTH_KEY_MALFORMED\]$/);

    const port = await freePort();
    const unreachable = makeNode(
      { OPENIR_AUTH_KEY_FILE: keyFile('away.key', opsKey.replace(/:\d+@Pin=/, `:${port}@Pin=`)) },
      'checkbad3',
    );
    const away = await unreachable.cli(['serve', '--check', '--json']);
    expect(away.code).toBe(1);
    expect((away.json as ServeCheckReport).checks.find((c) => c.check === 'control plane')).toMatchObject({
      ok: false,
      code: 'CONTROL_PLANE_UNREACHABLE',
    });
  });

  it('first start registers from OPENIR_AUTH_KEY_FILE and goes Online', async () => {
    await first.startHost();
    const status = await first.waitForStatus((s) => s.status === 'Online');
    expect(status.node?.name).toBe('edge-1');
    expect(status.ir?.name).toBe('ops');
    firstNodeId = status.node?.id ?? '';
    expect(first.output()).toContain('Unattended start: registering this node from the environment.');
    const nodes = await cp.adminOk<NodesView>(['ir', 'nodes', 'ops']);
    expect(nodes.nodes.map((n) => n.nodeId)).toEqual([firstNodeId]);
  });

  it('a restart finds itself registered: same node ID, one node and one registration on the control plane', async () => {
    await first.kill();
    await first.startHost();
    const status = await first.waitForStatus((s) => s.status === 'Online');
    expect(status.node?.id).toBe(firstNodeId);
    expect(first.output()).toContain(
      `Already registered as "edge-1" (node id ${firstNodeId}) in "ops"; the unattended registration settings are not used.`,
    );
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'ops'])).nodes.map((n) => n.nodeId)).toEqual([
      firstNodeId,
    ]);
    expect(registerPosts(200)).toBe(1);
    const check = await first.cli(['serve', '--check', '--json']);
    expect(check.code).toBe(0);
    expect((check.json as ServeCheckReport).wouldDo).toMatch(
      new RegExp(
        `^already registered as "edge-1" \\(node id ${firstNodeId}\\) in "ops"; would start the host on`,
      ),
    );
  });

  const lost = makeNode({}, 'edge1b');

  it('a start with its data volume lost and the name taken fails once, clearly, and exits non-zero', async () => {
    await first.kill('SIGKILL');
    Object.assign(lost.env, { OPENIR_AUTH_KEY_FILE: opsKeyFile, OPENIR_NODE_NAME: 'edge-1' });
    const before = registerPosts(409);
    const result = await runCli(['serve', '--no-web'], { env: lost.env, timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^openir: The integration runtime 'ops' already has a node named 'edge-1', and this machine has no registration .*OPENIR_REPLACE_NODE=1.* \[NODE_NAME_TAKEN\]$/,
    );
    const log = fs.readFileSync(path.join(lost.home, 'logs', 'openir.log'), 'utf8');
    expect(log).toContain('Unattended registration failed: ');
    expect(log).toContain('NODE_NAME_TAKEN');
    // One attempt, no loop: a refusal is not retried.
    expect(registerPosts(409) - before).toBe(1);
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'ops'])).nodes.map((n) => n.nodeId)).toEqual([
      firstNodeId,
    ]);
  });

  it('OPENIR_REPLACE_NODE=1 replaces that node: Online, a new node ID, the old one gone', async () => {
    lost.env.OPENIR_REPLACE_NODE = '1';
    await lost.startHost();
    const status = await lost.waitForStatus((s) => s.status === 'Online');
    expect(status.node?.name).toBe('edge-1');
    expect(status.node?.id).not.toBe(firstNodeId);
    const nodes = await cp.adminOk<NodesView>(['ir', 'nodes', 'ops']);
    expect(nodes.nodes.map((n) => n.nodeId)).toEqual([status.node?.id]);
    expect(nodes.removedNodes).toMatchObject([{ nodeId: firstNodeId, name: 'edge-1', reason: 'replaced' }]);
    expect(cp.stderr()).toContain(`Replaced node 'edge-1' (${firstNodeId}) in 'ops'`);
  });

  it('an unreachable control plane is retried a bounded number of times, then serve exits non-zero', async () => {
    const port = await freePort();
    const node = makeNode(
      {
        OPENIR_AUTH_KEY_FILE: keyFile('gone.key', opsKey.replace(/:\d+@Pin=/, `:${port}@Pin=`)),
        OPENIR_REGISTER_ATTEMPTS: '2',
        OPENIR_REGISTER_RETRY_MS: '100',
      },
      'retry1',
    );
    const result = await runCli(['serve', '--no-web'], { env: node.env, timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(/gave up after 2 attempts.*\[CONTROL_PLANE_UNREACHABLE\]$/);
    const log = fs.readFileSync(path.join(node.home, 'logs', 'openir.log'), 'utf8');
    expect(log).toContain('Registration attempt 1 of 2 failed (CONTROL_PLANE_UNREACHABLE); trying again');
    expect(log).not.toContain('attempt 2 of 2 failed');
  });

  it('OPENIR_AUTH_KEY: registers, and the key is in no log, no output and no argument', async () => {
    const ir = await cp.createIr('envkey');
    const node = makeNode({ OPENIR_AUTH_KEY: ir.key1, OPENIR_NODE_NAME: 'env-1' }, 'env1');
    const child = await node.startHost();
    await node.waitForStatus((s) => s.status === 'Online' && s.node?.name === 'env-1');
    const secret = parseAuthKey(ir.key1).secret;
    expect(node.output()).not.toContain(secret);
    expect(fs.readFileSync(path.join(node.home, 'logs', 'openir.log'), 'utf8')).not.toContain(secret);
    expect(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).not.toContain(secret);
    expect(processArgsAndEnv(child.pid ?? 0)).toContain('OPENIR_NODE_NAME=env-1');
  });

  it.skipIf(!opensslAvailable)(
    'OPENIR_REMOTE_ACCESS=tls imports the PFX (password from a file) and registers with remote access on',
    async () => {
      const ir = await cp.createIr('tls-ir');
      const fixture = selfSignedByOpenssl(files, 'tls1.openir.test', 'DNS:tls1.openir.test');
      const password = `pfx-${Date.now()}-secret`;
      const pfx = toPfx(fixture, password);
      const port = await freePort();
      const node = makeNode(
        {
          OPENIR_AUTH_KEY_FILE: keyFile('tls.key', ir.key1),
          OPENIR_REMOTE_ACCESS: 'tls',
          OPENIR_REMOTE_ACCESS_PORT: String(port),
          OPENIR_REMOTE_ACCESS_CERT_FILE: pfx,
          OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE: keyFile('pfx.pass', `${password}\n`),
          OPENIR_PROXY: 'none',
        },
        'tls1',
      );
      const check = await node.cli(['serve', '--check', '--json']);
      expect(check.code, check.stderr).toBe(0);
      expect((check.json as ServeCheckReport).wouldDo).toContain(
        `remote access with TLS on port ${port} (certificate from ${pfx}), no proxy`,
      );
      await node.startHost();
      const status = await node.waitForStatus((s) => s.status === 'Online');
      expect(status.node?.name).toBe('tls1');
      const remote = await node.cli(['remote-access', 'show', '--json']);
      expect(remote.json).toMatchObject({
        settings: { mode: 'tls', port },
        listening: true,
        url: `https://127.0.0.1:${port}`,
      });
      const nodes = await cp.adminOk<NodesView>(['ir', 'nodes', 'tls-ir']);
      expect(nodes.nodes[0]?.remoteAccessUrl).toBe(`https://127.0.0.1:${port}`);
      expect(node.output()).not.toContain(password);
      expect(fs.readFileSync(path.join(node.home, 'logs', 'openir.log'), 'utf8')).not.toContain(password);
    },
  );

  it('serve --check goes through the proxy the variables set', async () => {
    const port = await freePort();
    const node = makeNode(
      {
        OPENIR_AUTH_KEY_FILE: opsKeyFile,
        OPENIR_PROXY: 'custom',
        OPENIR_PROXY_ADDRESS: '127.0.0.1',
        OPENIR_PROXY_PORT: String(port),
      },
      'proxied1',
    );
    const check = await node.cli(['serve', '--check', '--json']);
    expect(check.code).toBe(1);
    const report = check.json as ServeCheckReport;
    expect(report.checks.find((c) => c.check === 'control plane')).toMatchObject({
      ok: false,
      code: 'PROXY_UNREACHABLE',
    });
    expect(report.wouldDo).toContain(`proxy 127.0.0.1:${port}`);
  });

  it('register --key-file: reads the key from a file, with clear errors for a missing, empty or malformed one', async () => {
    const ir = await cp.createIr('cli-ir');
    const node = makeNode({}, 'cli1');
    const missing = await node.cli(['register', '--key-file', path.join(files, 'nope.key')]);
    expect(missing.code).toBe(1);
    expect(lastLine(missing.stderr)).toMatch(
      /^openir: The key file .*nope\.key cannot be read: it does not exist\..*\[INVALID_INPUT\]$/,
    );
    const empty = await node.cli(['register', '--key-file', keyFile('empty.key', '\n')]);
    expect(lastLine(empty.stderr)).toMatch(
      /^openir: The key file .*empty\.key is empty\..*\[AUTH_KEY_EMPTY\]$/,
    );
    const bad = await node.cli(['register', '--key-file', keyFile('garbage.key', 'hello\n')]);
    expect(lastLine(bad.stderr)).toMatch(/\(in .*garbage\.key\)\..*\[AUTH_KEY_WRONG_PREFIX\]$/);
    const both = await node.cli(['register', '--key-file', opsKeyFile, '--key-stdin'], opsKey);
    expect(lastLine(both.stderr)).toMatch(/Give the key one way only.*\[INVALID_INPUT\]$/);
    // None of those started a host or registered anything.
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'cli-ir'])).nodes).toEqual([]);

    await node.startHost();
    const ok = await node.cli([
      'register',
      '--key-file',
      keyFile('cli.key', `${ir.key2}\r\n`),
      '--node-name',
      'cli-1',
      '--json',
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect((ok.json as StatusJson).status).toBe('Online');
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'cli-ir'])).nodes.map((n) => n.name)).toEqual([
      'cli-1',
    ]);
  });

  it('--expire-offline-after removes a node Offline too long; its slot takes a new node', async () => {
    const ir = await cp.createIr('small', ['--max-nodes', '1']);
    const smallKey = keyFile('small.key', ir.key1);
    const dead = makeNode({ OPENIR_AUTH_KEY_FILE: smallKey, OPENIR_NODE_NAME: 'dead-1' }, 'dead1');
    await dead.startHost();
    const deadId = (await dead.waitForStatus((s) => s.status === 'Online')).node?.id;

    // The IR is at its limit: a second node is refused, and its serve exits at once.
    const fresh = makeNode({ OPENIR_AUTH_KEY_FILE: smallKey, OPENIR_NODE_NAME: 'fresh-1' }, 'fresh1');
    const refused = await runCli(['serve', '--no-web'], { env: fresh.env, timeoutMs: 60_000 });
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toMatch(
      /already has 1 node, the most it allows.*\[NODE_LIMIT_REACHED\]$/,
    );

    await cp.adminOk(['ir', 'update', 'small', '--expire-offline-after', '2s']);
    await dead.kill('SIGKILL');
    const deadline = Date.now() + 20_000;
    let view = await cp.adminOk<NodesView>(['ir', 'nodes', 'small']);
    while (view.nodes.length > 0 && Date.now() < deadline) {
      await sleep(200);
      view = await cp.adminOk<NodesView>(['ir', 'nodes', 'small']);
    }
    expect(view.nodes).toEqual([]);
    expect(view).toMatchObject({
      maxNodes: 1,
      expireOfflineAfter: '2s',
      removedNodes: [{ nodeId: deadId, name: 'dead-1', reason: 'expired' }],
    });
    expect(cp.stderr()).toMatch(
      new RegExp(
        `Removed node 'dead-1' \\(${deadId}\\) from 'small': Offline for \\d+s, longer than its expire-offline-after of 2s; its slot is free`,
      ),
    );

    await fresh.startHost();
    const status = await fresh.waitForStatus((s) => s.status === 'Online');
    expect(status.node?.name).toBe('fresh-1');
    expect((await cp.adminOk<NodesView>(['ir', 'nodes', 'small'])).nodes.map((n) => n.name)).toEqual([
      'fresh-1',
    ]);
  });
});
