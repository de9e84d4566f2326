import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/core/config';
import { FileVault, OsKeyringVault, type SecretVault } from '../../src/core/vault';
import { parseAuthKey } from '../../src/shared/authKey';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, processArgsAndEnv, stopAllNodes, type StatusJson } from '../helpers/node';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';

/**
 * The whole loop on one machine, all real processes: the reference control
 * plane (HTTPS + SQLite), an OpenIR host, and the `openir` CLI talking to it.
 */
describe('register a node and keep it Online', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key1 = '';
  const node = makeNode({}, 'node1');

  beforeAll(async () => {
    cp = await startControlPlane(HEARTBEAT);
    key1 = (await cp.createIr('sales-ir')).key1;
    await node.startHost();
  });

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('starts unregistered', async () => {
    const status = await node.cli(['status', '--json']);
    expect(status.code).toBe(0);
    expect((status.json as StatusJson).status).toBe('NeedRegistration');
  });

  it('registers with key1 (from stdin) and goes Online', async () => {
    const result = await node.cli(['register', '--key-stdin', '--json'], key1);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const status = result.json as StatusJson;
    expect(status.status).toBe('Online');
    expect(status.ir?.name).toBe('sales-ir');
    expect(status.node?.name).toBe('node1');
  });

  it('is Online in `openir status` and lists itself among the IR nodes', async () => {
    const status = await node.waitForStatus((s) =>
      s.irNodes.some((n) => n.name === 'node1' && n.status === 'Online'),
    );
    expect(status.status).toBe('Online');
  });

  it('is Online on the control plane (`ir nodes --json`)', async () => {
    const nodes = await cp.admin(['ir', 'nodes', 'sales-ir']);
    expect(nodes.code).toBe(0);
    const summary = nodes.json as { status: string; nodes: { name: string; status: string; fqdn: string }[] };
    expect(summary.status).toBe('Online');
    expect(summary.nodes).toHaveLength(1);
    expect(summary.nodes[0]).toMatchObject({ name: 'node1', status: 'Online', fqdn: 'node1.openir.test' });
  });

  it('goes Offline when the control plane dies, and back Online without re-registering', async () => {
    const before = (await node.waitForStatus((s) => s.status === 'Online')).node?.id;
    await cp.kill();
    const offline = await node.waitForStatus((s) => s.status === 'Offline', 10_000);
    expect(offline.lastError?.code).toBe('CONTROL_PLANE_UNREACHABLE');

    cp = await startControlPlane({ ...HEARTBEAT, dataDir: cp.dataDir, port: cp.port });
    const online = await node.waitForStatus((s) => s.status === 'Online', 15_000);
    expect(online.node?.id).toBe(before);
    const nodes = await cp.admin(['ir', 'nodes', 'sales-ir']);
    const summary = nodes.json as { status: string; nodes: { nodeId: string; status: string }[] };
    expect(summary.nodes.map((n) => n.nodeId)).toEqual([before]);
    const deadline = Date.now() + 5000;
    let status = summary.nodes[0]?.status;
    while (status !== 'Online' && Date.now() < deadline) {
      status = ((await cp.admin(['ir', 'nodes', 'sales-ir'])).json as typeof summary).nodes[0]?.status;
    }
    expect(status).toBe('Online');
  });

  it('Stopped after `openir stop`, Online again after `openir start`', async () => {
    const stopped = await node.cli(['stop', '--json']);
    expect(stopped.code).toBe(0);
    expect((stopped.json as StatusJson).status).toBe('Stopped');
    const started = await node.cli(['start', '--json']);
    expect(started.code).toBe(0);
    await node.waitForStatus((s) => s.status === 'Online');
  });

  it('keeps no secret in plain text: data directories, logs, process arguments and environments', async () => {
    const config = await new ConfigStore(path.join(node.home, 'config.json')).load();
    const vault: SecretVault =
      config.vaultBackend === 'encrypted-file'
        ? new FileVault(path.join(node.home, 'vault'))
        : new OsKeyringVault(node.home);
    const credential = await vault.get('node-credential');
    expect(credential).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const authSecret = parseAuthKey(key1).secret;

    const status = (await node.cli(['status', '--json'])).json as StatusJson;
    const pids = [status.host.pid, cp.process.pid ?? 0];
    for (const secret of [credential as string, authSecret]) {
      expect(filesContaining(node.home, secret)).toEqual([]);
      expect(filesContaining(cp.dataDir, secret)).toEqual([]);
      expect(node.output()).not.toContain(secret);
      for (const pid of pids) expect(processArgsAndEnv(pid)).not.toContain(secret);
    }
    expect(fs.existsSync(path.join(node.home, 'logs', 'openir.log'))).toBe(true);
  });
});
