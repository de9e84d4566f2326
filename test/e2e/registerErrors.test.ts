import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connector } from '../../src/core/connector';
import { registerWithControlPlane } from '../../src/core/controlPlaneClient';
import { pinnedTlsOptions, probeControlPlane } from '../../src/core/pinnedTls';
import { formatAuthKey, parseAuthKey } from '../../src/shared/authKey';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { freePort, makeNode, stopAllNodes, type CliResult, type StatusJson } from '../helpers/node';
import { cleanupTempDirs } from '../helpers/tmp';

/** Each bad input gets its own error code, a one-line reason, and changes nothing. */
function expectFailure(result: CliResult, code: string): void {
  expect(result.code).toBe(1);
  expect((result.json as { error: { code: string; message: string } }).error.code).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^openir: .+\\[${code}\\]$`));
}

describe('registration errors', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let keys: { key1: string; key2: string };

  beforeAll(async () => {
    cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
    keys = (await cp.admin(['ir', 'create', 'errors-ir', '--max-nodes', '4'])).json as typeof keys;
  });

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('malformed key: rejected by the CLI before any host starts', async () => {
    const node = makeNode();
    const result = await node.cli(['register', '--key-stdin', '--json'], 'IR@only@three');
    expectFailure(result, 'AUTH_KEY_MALFORMED');
    expect(fs.existsSync(path.join(node.home, 'run', 'host.pid'))).toBe(false);
  });

  it('wrong prefix and empty key have their own codes', async () => {
    const node = makeNode();
    expectFailure(await node.cli(['register', '--key-stdin', '--json'], 'hello'), 'AUTH_KEY_WRONG_PREFIX');
    expectFailure(await node.cli(['register', '--key-stdin', '--json'], ''), 'AUTH_KEY_EMPTY');
  });

  it('key for an endpoint that is down: CONTROL_PLANE_UNREACHABLE, node stays unregistered', async () => {
    const node = makeNode();
    await node.startHost();
    const port = await freePort();
    const key = formatAuthKey({ ...parseAuthKey(keys.key1), endpoint: `https://127.0.0.1:${port}` });
    const result = await node.cli(['register', '--key-stdin', '--json'], key);
    expectFailure(result, 'CONTROL_PLANE_UNREACHABLE');
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    const status = (await node.cli(['status', '--json'])).json as StatusJson;
    expect(status.status).toBe('NeedRegistration');
    expect(status.lastError?.code).toBe('CONTROL_PLANE_UNREACHABLE');
  });

  it('key whose pin does not match the server key (man in the middle): refused before the secret is sent', async () => {
    const node = makeNode();
    await node.startHost();
    const otherPin = Buffer.alloc(32, 7).toString('base64');
    const key = formatAuthKey({ ...parseAuthKey(keys.key1), pin: otherPin });
    const result = await node.cli(['register', '--key-stdin', '--json'], key);
    expectFailure(result, 'CONTROL_PLANE_TLS_PIN_MISMATCH');
    const nodes = (await cp.admin(['ir', 'nodes', 'errors-ir'])).json as { nodes: unknown[] };
    expect(nodes.nodes).toHaveLength(0);
  });

  it('a regenerated (old) key is refused as revoked; the new key works', async () => {
    const regenerated = await cp.admin(['ir', 'keys', 'errors-ir', '--regenerate', 'key2']);
    expect(regenerated.code).toBe(0);
    const newKey2 = (regenerated.json as { key: string }).key;
    expect(newKey2).not.toBe(keys.key2);

    const node = makeNode({}, 'oldkey');
    await node.startHost();
    await node.enableRemoteAccess();
    expectFailure(await node.cli(['register', '--key-stdin', '--json'], keys.key2), 'AUTH_KEY_REVOKED');
    const ok = await node.cli(['register', '--key-stdin', '--json'], newKey2);
    expect(ok.code).toBe(0);
    expect((ok.json as StatusJson).status).toBe('Online');
  });

  it('registering twice is refused with a clear message', async () => {
    const node = makeNode({}, 'twice');
    await node.startHost();
    await node.enableRemoteAccess();
    expect((await node.cli(['register', '--key-stdin', '--json'], keys.key1)).code).toBe(0);
    const again = await node.cli(['register', '--key-stdin', '--json'], keys.key1);
    expectFailure(again, 'ALREADY_REGISTERED');
    expect(again.stderr).toContain('already registered');
  });

  it('a node name already in the IR is refused', async () => {
    const node = makeNode({}, 'twice');
    await node.startHost();
    expectFailure(await node.cli(['register', '--key-stdin', '--json'], keys.key1), 'NODE_NAME_TAKEN');
  });

  it('a 5th node is refused when the IR allows 4', async () => {
    const before = ((await cp.admin(['ir', 'nodes', 'errors-ir'])).json as { nodes: unknown[] }).nodes.length;
    // Fill the IR to its limit with the node's own registration client, then try with a real host.
    const key = parseAuthKey(keys.key1);
    const direct = new Connector(async () => ({
      kind: 'direct',
      proxy: null,
      reason: 'test',
      proxyHost: null,
      proxyPort: null,
      authorization: null,
    }));
    const { caPem } = await probeControlPlane(key.endpoint, key.pin, direct);
    for (let i = before; i < 4; i += 1) {
      await registerWithControlPlane(key.endpoint, pinnedTlsOptions(caPem, key.pin), direct, {
        irId: key.irId,
        secret: key.secret,
        nodeName: `filler${i}`,
        fqdn: `filler${i}.openir.test`,
        version: '0.1.0',
        platform: 'test',
        remoteAccessUrl: `http://filler${i}.openir.test:8060`,
      });
    }
    const node = makeNode({}, 'fifth');
    await node.startHost();
    const result = await node.cli(['register', '--key-stdin', '--json'], keys.key1);
    expectFailure(result, 'NODE_LIMIT_REACHED');
    expect(result.stderr).toMatch(/4/);
    expect(((await node.cli(['status', '--json'])).json as StatusJson).registered).toBe(false);
  });

  it('register --replace keeps the old registration until the new key checks out (reach, pin, key)', async () => {
    const own = (await cp.admin(['ir', 'create', 'replace-ir'])).json as typeof keys;
    const other = (await cp.admin(['ir', 'create', 'replace-other-ir'])).json as typeof keys;
    const node = makeNode({}, 'keeper');
    await node.startHost();
    const first = await node.cli(['register', '--key-stdin', '--json'], own.key1);
    expect(first.code, first.stderr).toBe(0);
    const nodeId = (first.json as StatusJson).node?.id;
    const stillThere = async () => {
      const status = await node.waitForStatus((s) => s.status === 'Online');
      expect(status.node?.id).toBe(nodeId);
      expect(status.ir?.name).toBe('replace-ir');
      const listed = (await cp.admin(['ir', 'nodes', 'replace-ir'])).json as { nodes: { nodeId: string }[] };
      expect(listed.nodes.map((n) => n.nodeId)).toEqual([nodeId]);
    };

    // A control plane that is down.
    const down = formatAuthKey({
      ...parseAuthKey(other.key1),
      endpoint: `https://127.0.0.1:${await freePort()}`,
    });
    expectFailure(
      await node.cli(['register', '--replace', '--key-stdin', '--json'], down),
      'CONTROL_PLANE_UNREACHABLE',
    );
    await stillThere();

    // A key that was regenerated since.
    const regenerated = await cp.admin(['ir', 'keys', 'replace-other-ir', '--regenerate', 'key1']);
    expect(regenerated.code).toBe(0);
    expectFailure(
      await node.cli(['register', '--replace', '--key-stdin', '--json'], other.key1),
      'AUTH_KEY_REVOKED',
    );
    await stillThere();

    // A good key: only now is the old node given up.
    const moved = await node.cli(['register', '--replace', '--key-stdin', '--json'], other.key2);
    expect(moved.code, moved.stderr).toBe(0);
    expect((moved.json as StatusJson).ir?.name).toBe('replace-other-ir');
    const left = (await cp.admin(['ir', 'nodes', 'replace-ir'])).json as { nodes: unknown[] };
    expect(left.nodes).toEqual([]);
  });
});
