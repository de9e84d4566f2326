import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import {
  CONTROL_PLANE_PATHS,
  RegisterResponseSchema,
  type IrSummary,
} from '../../src/shared/controlPlaneApi';
import { hashSecret } from '../../src/control-plane/secrets';
import {
  startControlPlane,
  stopAll,
  type CreatedIr,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { errorCodeOf, httpsJson, register, registerOk } from './support';

let cp: RunningControlPlane;
/** Every secret this suite saw, to prove none of them reached the disk or the log. */
const secretsSeen: string[] = [];

async function createIr(name: string, maxNodes?: number): Promise<CreatedIr> {
  const args = ['ir', 'create', name, ...(maxNodes === undefined ? [] : ['--max-nodes', String(maxNodes)])];
  const result = await cp.admin<CreatedIr>(args);
  if (result.code !== 0) throw new Error(`ir create ${name}: ${result.stderr}`);
  secretsSeen.push(parseAuthKey(result.json.key1).secret, parseAuthKey(result.json.key2).secret);
  return result.json;
}

function withSecret(authKey: string, secret: string): string {
  return authKey.replace(/@[^@]+$/, `@${secret}`);
}

beforeAll(async () => {
  cp = await startControlPlane({ heartbeatIntervalMs: 4_000, heartbeatTimeoutMs: 12_000 });
});
afterAll(stopAll);

describe('POST /api/v1/nodes/register over HTTPS', () => {
  it('answers health', async () => {
    const health = await httpsJson(cp.endpoint, 'GET', CONTROL_PLANE_PATHS.health);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' }, pin: cp.pin });
  });

  it('registers a node with a valid key and returns its credential and heartbeat timings', async () => {
    const ir = await createIr('reg-ok');
    const result = await register(ir.key1, { nodeName: 'node-1' });
    expect(result.status).toBe(200);
    const body = RegisterResponseSchema.parse(result.body);
    secretsSeen.push(body.nodeCredential);
    expect(body).toMatchObject({ irId: ir.irId, irName: 'reg-ok', nodeName: 'node-1' });
    expect(body).toMatchObject({ heartbeatIntervalMs: 4_000, heartbeatTimeoutMs: 12_000 });
    expect(body.nodeCredential).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const nodes = await cp.admin<IrSummary>(['ir', 'nodes', 'reg-ok']);
    expect(nodes.json).toMatchObject({
      status: 'Offline',
      nodes: [
        {
          nodeId: body.nodeId,
          name: 'node-1',
          fqdn: 'node-1.test.internal',
          version: '0.1.0',
          status: 'Offline',
        },
      ],
    });
    expect(nodes.json.nodes[0]?.lastSeenAt).toBeNull();
  });

  it('refuses a wrong secret with 401 AUTH_KEY_INVALID', async () => {
    const ir = await createIr('reg-wrong');
    const result = await register(withSecret(ir.key1, 'x'.repeat(43)), { nodeName: 'n' });
    expect(result.status).toBe(401);
    expect(errorCodeOf(result.body)).toBe('AUTH_KEY_INVALID');
  });

  it('refuses an unknown IR with 404 IR_NOT_FOUND', async () => {
    const ir = await createIr('reg-unknown');
    const otherId = '00000000-0000-4000-8000-000000000000';
    const result = await register(ir.key1.replace(ir.irId, otherId), { nodeName: 'n' });
    expect(result.status).toBe(404);
    expect(result.body).toMatchObject({
      error: {
        code: 'IR_NOT_FOUND',
        message: 'The integration runtime in this key does not exist on this control plane.',
      },
    });
  });

  it('refuses a regenerated key with AUTH_KEY_REVOKED, while the new key and key2 work', async () => {
    const ir = await createIr('reg-revoke');
    const regenerated = await cp.admin<{ key: string }>(['ir', 'keys', 'reg-revoke', '--regenerate', 'key1']);
    expect(regenerated.code).toBe(0);
    secretsSeen.push(parseAuthKey(regenerated.json.key).secret);

    const old = await register(ir.key1, { nodeName: 'old-key' });
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({
      error: {
        code: 'AUTH_KEY_REVOKED',
        message: expect.stringMatching(
          /^This authentication key was regenerated on \d{4}-\d\d-\d\dT.* and can no longer register nodes\.$/,
        ),
        fix: expect.stringContaining('openir-control-plane ir keys reg-revoke'),
      },
    });
    expect((await register(regenerated.json.key, { nodeName: 'new-key1' })).status).toBe(200);
    expect((await register(ir.key2, { nodeName: 'key2' })).status).toBe(200);
  });

  it('refuses a fifth node when the IR allows four (NODE_LIMIT_REACHED)', async () => {
    const ir = await createIr('reg-limit');
    for (const name of ['n1', 'n2', 'n3', 'n4'])
      secretsSeen.push((await registerOk(ir.key1, { nodeName: name })).nodeCredential);
    const fifth = await register(ir.key2, { nodeName: 'n5' });
    expect(fifth.status).toBe(409);
    expect(fifth.body).toMatchObject({
      error: {
        code: 'NODE_LIMIT_REACHED',
        message: "The integration runtime 'reg-limit' already has 4 nodes, the most it allows.",
      },
    });

    const raised = await cp.admin(['ir', 'update', 'reg-limit', '--max-nodes', '5']);
    expect(raised.code).toBe(0);
    expect((await register(ir.key2, { nodeName: 'n5' })).status).toBe(200);
  });

  it('honours a smaller --max-nodes', async () => {
    const ir = await createIr('reg-small', 1);
    expect((await register(ir.key1, { nodeName: 'only' })).status).toBe(200);
    expect(errorCodeOf((await register(ir.key1, { nodeName: 'second' })).body)).toBe('NODE_LIMIT_REACHED');
  });

  it('lets a second node join only while every node, the joiner included, has remote access (REMOTE_ACCESS_REQUIRED)', async () => {
    const ir = await createIr('reg-ha');
    expect((await register(ir.key1, { nodeName: 'first', remoteAccessUrl: null })).status).toBe(200);
    const refused = await register(ir.key1, { nodeName: 'second' });
    expect(refused.status).toBe(409);
    expect(errorCodeOf(refused.body)).toBe('REMOTE_ACCESS_REQUIRED');
    expect(JSON.stringify(refused.body)).toContain("'first' has it disabled");
    // Once the first node reports remote access (a heartbeat does that), a joiner with it may join...
    const nodes = await cp.admin<{ nodes: { nodeId: string }[] }>(['ir', 'nodes', 'reg-ha']);
    expect(nodes.json.nodes).toHaveLength(1);
    await cp.admin(['ir', 'remove-node', 'reg-ha', 'first']);
    expect((await register(ir.key1, { nodeName: 'first' })).status).toBe(200);
    expect((await register(ir.key1, { nodeName: 'second' })).status).toBe(200);
    // ...and one without it may not: it could never turn it on once in.
    const joiner = await register(ir.key1, { nodeName: 'third', remoteAccessUrl: null });
    expect(errorCodeOf(joiner.body)).toBe('REMOTE_ACCESS_REQUIRED');
    expect(JSON.stringify(joiner.body)).toContain('this node must join with remote access');
  });

  it('refuses a node name already in the IR (NODE_NAME_TAKEN), case-insensitively', async () => {
    const ir = await createIr('reg-dup');
    expect((await register(ir.key1, { nodeName: 'Worker' })).status).toBe(200);
    const again = await register(ir.key2, { nodeName: 'worker' });
    expect(again.status).toBe(409);
    expect(errorCodeOf(again.body)).toBe('NODE_NAME_TAKEN');
    const other = await createIr('reg-dup-other');
    expect((await register(other.key1, { nodeName: 'Worker' })).status).toBe(200);
  });

  it('replaces a node of the same name on request, only in the IR the key belongs to', async () => {
    const ir = await createIr('reg-replace', 1);
    const other = await createIr('reg-replace-other');
    const first = await registerOk(ir.key1, { nodeName: 'worker' });
    const elsewhere = await registerOk(other.key1, { nodeName: 'worker' });
    secretsSeen.push(first.nodeCredential, elsewhere.nodeCredential);

    // A wrong secret replaces nothing, even with replace.
    const wrong = await register(withSecret(ir.key1, 'x'.repeat(43)), { nodeName: 'worker', replace: true });
    expect(errorCodeOf(wrong.body)).toBe('AUTH_KEY_INVALID');

    // At its limit of 1, the IR still takes the replacement: the old node's slot is the new one's.
    const replaced = RegisterResponseSchema.parse(
      (await register(ir.key2, { nodeName: 'Worker', replace: true })).body,
    );
    secretsSeen.push(replaced.nodeCredential);
    expect(replaced.replacedNodeId).toBe(first.nodeId);
    expect(replaced.nodeId).not.toBe(first.nodeId);

    const nodes = await cp.adminOk<IrSummary & { removedNodes: { nodeId: string; reason: string }[] }>([
      'ir',
      'nodes',
      'reg-replace',
    ]);
    expect(nodes.nodes.map((n) => n.nodeId)).toEqual([replaced.nodeId]);
    expect(nodes.removedNodes).toMatchObject([{ nodeId: first.nodeId, reason: 'replaced' }]);
    const untouched = await cp.adminOk<IrSummary>(['ir', 'nodes', 'reg-replace-other']);
    expect(untouched.nodes.map((n) => n.nodeId)).toEqual([elsewhere.nodeId]);
    expect(cp.stderr()).toContain(`Replaced node 'worker' (${first.nodeId}) in 'reg-replace'`);

    // Without a node of that name, replace is a plain registration.
    const fresh = await createIr('reg-replace-fresh');
    const plain = await registerOk(fresh.key1, { nodeName: 'solo', replace: true });
    secretsSeen.push(plain.nodeCredential);
    expect(plain.replacedNodeId).toBeNull();
  });

  it('refuses a malformed body with 400 INVALID_INPUT, and never echoes the secret', async () => {
    const ir = await createIr('reg-bad');
    const key = parseAuthKey(ir.key1);
    const badName = await httpsJson(cp.endpoint, 'POST', CONTROL_PLANE_PATHS.register, {
      irId: key.irId,
      secret: key.secret,
      nodeName: 'has space',
      fqdn: 'x',
      version: '1',
      platform: 'linux',
    });
    expect(badName.status).toBe(400);
    expect(errorCodeOf(badName.body)).toBe('INVALID_INPUT');
    expect(JSON.stringify(badName.body)).toContain('nodeName');
    expect(JSON.stringify(badName.body)).not.toContain(key.secret);

    const notJson = await httpsJson(
      cp.endpoint,
      'POST',
      CONTROL_PLANE_PATHS.register,
      undefined,
      '{"irId": ',
    );
    expect(notJson.status).toBe(400);
    expect(errorCodeOf(notJson.body)).toBe('INVALID_INPUT');

    const missing = await httpsJson(cp.endpoint, 'POST', CONTROL_PLANE_PATHS.register, { irId: key.irId });
    expect(missing.status).toBe(400);
    expect(errorCodeOf(missing.body)).toBe('INVALID_INPUT');
  });

  it('keeps auth key secrets and node credentials out of the database files and the log', async () => {
    expect(secretsSeen.length).toBeGreaterThan(10);
    const files = ['control-plane.db', 'control-plane.db-wal']
      .map((name) => path.join(cp.dataDir, name))
      .filter((file) => existsSync(file));
    expect(files.length).toBeGreaterThan(0);
    const bytes = Buffer.concat(files.map((file) => readFileSync(file)));
    // The hashes are there (so we are reading the right bytes), the secrets are not.
    expect(bytes.includes(Buffer.from(hashSecret(secretsSeen[0] as string)))).toBe(true);
    for (const secret of secretsSeen) {
      expect(bytes.includes(Buffer.from(secret)), 'a secret is stored in plain text').toBe(false);
      expect(cp.stderr().includes(secret), 'a secret is in the server log').toBe(false);
    }
    expect(cp.stderr()).toMatch(/POST \/api\/v1\/nodes\/register 200/);
  });
});
