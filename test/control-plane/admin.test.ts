import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import { IrSummarySchema, type IrSummary } from '../../src/shared/controlPlaneApi';
import {
  makeTempDir,
  runControlPlaneCli,
  startControlPlane,
  stopAll,
  type CreatedIr,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { pinOfPeer } from './support';

interface ErrorDoc {
  error: { code: string; message: string; fix?: string };
}

function pinOfServer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 10_000 },
      () => {
        resolve(pinOfPeer(socket));
        socket.end();
      },
    );
    socket.once('error', reject);
    socket.once('timeout', () => socket.destroy(new Error('TLS connect timed out')));
  });
}

let cp: RunningControlPlane;
beforeAll(async () => {
  cp = await startControlPlane();
});
afterAll(stopAll);

describe('openir-control-plane ir (admin CLI)', () => {
  it('refuses to work in a data dir no server runs in, saying how to start one', async () => {
    const dataDir = await makeTempDir();
    const result = await runControlPlaneCli<ErrorDoc>(['ir', 'create', 'prod', '--data', dataDir, '--json']);
    expect(result.code).toBe(1);
    expect(result.json.error.code).toBe('CONTROL_PLANE_UNREACHABLE');
    expect(result.json.error.message).toBe(`No control plane is running with the data directory ${dataDir}.`);
    expect(result.json.error.fix).toContain(`openir-control-plane serve --data ${dataDir}`);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `openir-control-plane: ${result.json.error.message} ${result.json.error.fix}`,
    ]);
  });

  it('creates an IR whose two keys parse, point at the server and carry the pin of its certificate', async () => {
    const result = await cp.admin<CreatedIr>(['ir', 'create', 'prod']);
    expect(result.code).toBe(0);
    expect(Object.keys(result.json).sort()).toEqual(['irId', 'key1', 'key2', 'name']);
    const key1 = parseAuthKey(result.json.key1);
    const key2 = parseAuthKey(result.json.key2);
    const servedPin = await pinOfServer(cp.port);
    for (const key of [key1, key2]) {
      expect(key).toMatchObject({
        irId: result.json.irId,
        irName: 'prod',
        endpoint: cp.endpoint,
        pin: servedPin,
      });
    }
    expect(cp.pin).toBe(servedPin);
    expect(key1.secret).not.toBe(key2.secret);
  });

  it('prints the keys for people too, and lists the IR', async () => {
    const human = await runControlPlaneCli([
      'ir',
      'create',
      'Sales EU',
      '--max-nodes',
      '2',
      '--data',
      cp.dataDir,
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^key1: IR@/m);
    expect(human.stdout).toMatch(/^key2: IR@/m);

    const list = await cp.admin<{
      irs: { name: string; status: string; nodeCount: number; maxNodes: number }[];
    }>(['ir', 'list']);
    expect(list.code).toBe(0);
    expect(list.json.irs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'prod', status: 'NeedRegistration', nodeCount: 0, maxNodes: 4 }),
        expect.objectContaining({ name: 'Sales EU', status: 'NeedRegistration', nodeCount: 0, maxNodes: 2 }),
      ]),
    );
  });

  it('refuses a duplicate name (case-insensitively) and an invalid name', async () => {
    const duplicate = await cp.admin<ErrorDoc>(['ir', 'create', 'PROD']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.json.error.code).toBe('IR_EXISTS');

    const invalid = await cp.admin<ErrorDoc>(['ir', 'create', 'no@at-signs']);
    expect(invalid.code).toBe(1);
    expect(invalid.json.error.code).toBe('INVALID_INPUT');
    expect(invalid.stderr).toMatch(/^openir-control-plane: 'no@at-signs' is not a valid/);
  });

  it('lists key slots without revealing keys, and regenerates one on request', async () => {
    const created = await cp.admin<CreatedIr>(['ir', 'create', 'keys-test']);
    const listed = await cp.admin<{
      name: string;
      keys: { slot: string; createdAt: string }[];
      note: string;
    }>(['ir', 'keys', 'keys-test']);
    expect(listed.code).toBe(0);
    expect(listed.json.keys.map((k) => k.slot)).toEqual(['key1', 'key2']);
    expect(listed.json.note).toMatch(/shown only when created or regenerated/);
    expect(listed.stdout).not.toContain(parseAuthKey(created.json.key1).secret);

    const regenerated = await cp.admin<{ name: string; slot: string; key: string }>([
      'ir',
      'keys',
      'keys-test',
      '--regenerate',
      'key2',
    ]);
    expect(regenerated.code).toBe(0);
    expect(Object.keys(regenerated.json).sort()).toEqual(['expiresAt', 'key', 'name', 'singleUse', 'slot']);
    expect(regenerated.json.slot).toBe('key2');
    const fresh = parseAuthKey(regenerated.json.key);
    expect(fresh.irId).toBe(created.json.irId);
    expect(fresh.secret).not.toBe(parseAuthKey(created.json.key2).secret);

    const badSlot = await cp.admin<ErrorDoc>(['ir', 'keys', 'keys-test', '--regenerate', 'key3']);
    expect(badSlot.code).toBe(1);
    expect(badSlot.json.error.code).toBe('INVALID_INPUT');
  });

  it('shows an IR with no nodes as NeedRegistration', async () => {
    const nodes = await cp.admin<IrSummary>(['ir', 'nodes', 'prod']);
    expect(nodes.code).toBe(0);
    expect(IrSummarySchema.parse(nodes.json)).toMatchObject({
      name: 'prod',
      status: 'NeedRegistration',
      nodes: [],
    });
  });

  it('sets and clears --expire-offline-after, shows it in `ir nodes`, and refuses a bad duration', async () => {
    await cp.createIr('expiring');
    const set = await cp.admin<{ expireOfflineAfter: string }>([
      'ir',
      'update',
      'expiring',
      '--expire-offline-after',
      '2h',
    ]);
    expect(set.code).toBe(0);
    expect(set.json).toMatchObject({ name: 'expiring', expireOfflineAfter: '2h' });
    const text = await runControlPlaneCli(['ir', 'nodes', 'expiring', '--data', cp.dataDir]);
    expect(text.stdout).toContain('Nodes: 0/4; expire Offline nodes: after 2h');
    const both = await cp.adminOk<{ maxNodes: number; expireOfflineAfter: string }>([
      'ir',
      'update',
      'expiring',
      '--max-nodes',
      '2',
      '--expire-offline-after',
      '7d',
    ]);
    expect(both).toMatchObject({ maxNodes: 2, expireOfflineAfter: '7d' });
    for (const bad of ['soon', '0m', '30', '400d']) {
      const refused = await cp.admin<ErrorDoc>(['ir', 'update', 'expiring', '--expire-offline-after', bad]);
      expect(refused.code).toBe(1);
      expect(refused.json.error).toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('--expire-offline-after'),
      });
    }
    const nothing = await cp.admin<ErrorDoc>(['ir', 'update', 'expiring']);
    expect(nothing.json.error.code).toBe('INVALID_INPUT');
    // A refused value changed nothing.
    expect(await cp.adminOk(['ir', 'nodes', 'expiring'])).toMatchObject({
      maxNodes: 2,
      expireOfflineAfter: '7d',
      removedNodes: [],
    });
    const off = await cp.adminOk(['ir', 'update', 'expiring', '--expire-offline-after', 'off']);
    expect(off).toMatchObject({ expireOfflineAfter: null });
    expect(await cp.adminOk(['ir', 'nodes', 'expiring'])).toMatchObject({ expireOfflineAfter: null });
  });

  it('reports an unknown IR as IR_NOT_FOUND with exit code 1 and one stderr line', async () => {
    for (const args of [
      ['ir', 'nodes', 'missing'],
      ['ir', 'keys', 'missing'],
      ['ir', 'keys', 'missing', '--regenerate', 'key1'],
    ]) {
      const result = await cp.admin<ErrorDoc>(args);
      expect(result.code).toBe(1);
      expect(result.json.error.code).toBe('IR_NOT_FOUND');
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^openir-control-plane: No integration runtime named 'missing'/);
    }
  });

  it('turns usage mistakes into INVALID_INPUT', async () => {
    const missingArg = await cp.admin<ErrorDoc>(['ir', 'create']);
    expect(missingArg.code).toBe(1);
    expect(missingArg.json.error.code).toBe('INVALID_INPUT');
    const badNumber = await cp.admin<ErrorDoc>(['ir', 'create', 'x1', '--max-nodes', 'many']);
    expect(badNumber.json.error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('--max-nodes'),
    });
    const unknown = await cp.admin<ErrorDoc>(['ir', 'frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.json.error.code).toBe('INVALID_INPUT');
  });

  it('finds the data dir through $OPENIR_CONTROL_PLANE_HOME', async () => {
    const result = await runControlPlaneCli<{ irs: { name: string }[] }>(['ir', 'list', '--json'], {
      ...process.env,
      OPENIR_CONTROL_PLANE_HOME: cp.dataDir,
    });
    expect(result.code).toBe(0);
    expect(result.json.irs.map((ir) => ir.name)).toContain('prod');
  });
});
