import { createHash, generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import { CONTROL_PLANE_PATHS, type IrSummary } from '../../src/shared/controlPlaneApi';
import type { JobView } from '../../src/control-plane/jobStore';
import {
  runControlPlaneCli,
  startControlPlane,
  stopAll,
  type CreatedIr,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { TestChannel, errorCodeOf, heartbeat, httpsJson, register, registerOk } from './support';

/**
 * Joining needs approval (security review, HIGH): with a real control plane
 * process and nodes played over its real HTTP API and control channel.
 */

afterAll(stopAll);

/** A node's credential-sync public key as it reports it (base64 SPKI DER of an X25519 key). */
function syncKey(): string {
  return generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Computed here independently of the product's code: SHA256: + unpadded base64, as ssh-keygen -lf. */
function fingerprintOf(key: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(key, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

type NodesJson = IrSummary & { joinApproval: string };

async function createIr(cp: RunningControlPlane, name: string): Promise<CreatedIr> {
  return cp.adminOk<CreatedIr>(['ir', 'create', name]);
}

/** The command's text for people (no --json). */
const adminText = (cp: RunningControlPlane, args: string[]) =>
  runControlPlaneCli([...args, '--data', cp.dataDir]);

/** Admin commands take a second each here: the test sends heartbeats itself, so a long timeout. */
const SLOW_HEARTBEATS = { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 120_000 };

const nodeOf = (ir: IrSummary, name: string) => ir.nodes.find((node) => node.name === name);

describe('joining needs approval', () => {
  it('the first node is approved; the second waits Pending with no peers, no jobs, until ir approve --fingerprint', async () => {
    const cp = await startControlPlane(SLOW_HEARTBEATS);
    const ir = await createIr(cp, 'join');
    const keyA = syncKey();
    const keyB = syncKey();
    const a = await registerOk(ir.key1, { nodeName: 'a', peerKey: keyA });
    expect(a.approval).toBe('approved');
    const b = await registerOk(ir.key1, { nodeName: 'b', peerKey: keyB });
    expect(b.approval).toBe('pending');

    const nodes = await cp.adminOk<NodesJson>(['ir', 'nodes', 'join']);
    expect(nodes.joinApproval).toBe('required');
    expect(nodeOf(nodes, 'a')).toMatchObject({ approval: 'approved', approvedPeerKey: keyA });
    expect(nodeOf(nodes, 'b')).toMatchObject({
      approval: 'pending',
      approvedPeerKey: null,
      syncKeyFingerprint: fingerprintOf(keyB),
    });
    const text = await adminText(cp, ['ir', 'nodes', 'join']);
    expect(text.stdout).toMatch(/\bb\s+Offline\s+pending\s+SHA256:/);
    expect(text.stdout).toContain(`ir approve join b --fingerprint ${fingerprintOf(keyB)}`);

    // Only b is connected: a job in the queue has nowhere to go while b waits.
    const channelB = await TestChannel.open(cp.endpoint, b);
    const welcome = await channelB.next('welcome');
    // A pending node hears only about itself: no peer address, no peer key.
    expect(welcome.ir.nodes.map((n) => n.name)).toEqual(['b']);
    expect(JSON.stringify(welcome)).not.toContain(keyA);
    channelB.send(heartbeat());
    const ack = await channelB.next('heartbeatAck');
    expect(nodeOf(ack.ir, 'b')).toMatchObject({ status: 'Pending', approval: 'pending' });
    expect(ack.ir.nodes).toHaveLength(1);

    const job = await cp.adminOk<JobView>([
      'job',
      'submit',
      '--ir',
      'join',
      '--source',
      'web:file',
      '--sink',
      'staging',
    ]);
    // Several heartbeats and a wake-up pass: the job stays queued, nothing is sent to b.
    for (let i = 0; i < 4; i += 1) {
      channelB.send(heartbeat());
      await channelB.next('heartbeatAck');
    }
    expect(channelB.pending('jobAssigned')).toBe(0);
    expect((await cp.adminOk<JobView>(['job', 'show', job.id])).state).toBe('Queued');

    // A fingerprint that is not b's key: refused, b stays pending.
    const wrong = await cp.admin(['ir', 'approve', 'join', 'b', '--fingerprint', fingerprintOf(keyA)]);
    expect(wrong.code).not.toBe(0);
    expect(errorCodeOf(wrong.json)).toBe('SYNC_KEY_FINGERPRINT_MISMATCH');
    expect(wrong.stderr).toContain(fingerprintOf(keyB));
    const malformed = await cp.admin(['ir', 'approve', 'join', 'b', '--fingerprint', 'abc']);
    expect(errorCodeOf(malformed.json)).toBe('INVALID_INPUT');
    expect(nodeOf(await cp.adminOk<NodesJson>(['ir', 'nodes', 'join']), 'b')?.approval).toBe('pending');

    // The fingerprint as a person pastes it (lower-case prefix, spaces) is accepted.
    const approved = await cp.adminOk<{ fingerprint: string; was: string }>([
      'ir',
      'approve',
      'join',
      'b',
      '--fingerprint',
      ` sha256:${fingerprintOf(keyB).slice('SHA256:'.length)} `,
    ]);
    expect(approved).toMatchObject({ fingerprint: fingerprintOf(keyB), was: 'pending' });
    // The approval wakes the server: the queued job goes to b now.
    const assigned = await channelB.next('jobAssigned', 10_000);
    expect(assigned.jobId).toBe(job.id);
    // And b now hears of the whole IR, with its own key pinned.
    channelB.send(heartbeat());
    const after = await channelB.next('heartbeatAck');
    expect(after.ir.nodes.map((n) => n.name).sort()).toEqual(['a', 'b']);
    expect(nodeOf(after.ir, 'b')).toMatchObject({ approval: 'approved', approvedPeerKey: keyB });
    expect(nodeOf(after.ir, 'a')).toMatchObject({ approvedPeerKey: keyA });
    channelB.close();
  });

  it('a node reporting another sync key keeps its old pin, gets no jobs, and is shown "key changed" until approved again', async () => {
    const cp = await startControlPlane(SLOW_HEARTBEATS);
    const ir = await createIr(cp, 'rekey');
    await cp.adminOk(['ir', 'update', 'rekey', '--join-approval', 'auto']);
    const keyA = syncKey();
    const a = await registerOk(ir.key1, { nodeName: 'a', peerKey: keyA });
    expect(a.approval).toBe('approved');
    const channel = await TestChannel.open(cp.endpoint, a);
    await channel.next('welcome');
    const newKey = syncKey();
    channel.send(heartbeat({ peerKey: newKey }));
    const ack = await channel.next('heartbeatAck');
    expect(nodeOf(ack.ir, 'a')).toMatchObject({ peerKey: newKey, approvedPeerKey: keyA });
    const text = await adminText(cp, ['ir', 'nodes', 'rekey']);
    expect(text.stdout).toContain('key changed');
    expect(text.stdout).toContain(fingerprintOf(newKey));

    const job = await cp.adminOk<JobView>([
      'job',
      'submit',
      '--ir',
      'rekey',
      '--source',
      'web:f',
      '--sink',
      'staging',
    ]);
    for (let i = 0; i < 4; i += 1) {
      channel.send(heartbeat({ peerKey: newKey }));
      await channel.next('heartbeatAck');
    }
    expect(channel.pending('jobAssigned')).toBe(0);
    // An approved node with its pinned key cannot be "rejected" by mistake; this one can be approved again.
    const approved = await cp.adminOk<{ was: string }>([
      'ir',
      'approve',
      'rekey',
      'a',
      '--fingerprint',
      fingerprintOf(newKey),
    ]);
    expect(approved.was).toBe('keyChanged');
    expect((await channel.next('jobAssigned', 10_000)).jobId).toBe(job.id);
    channel.send(heartbeat({ peerKey: newKey }));
    expect(nodeOf((await channel.next('heartbeatAck')).ir, 'a')?.approvedPeerKey).toBe(newKey);
    const notPending = await cp.admin(['ir', 'reject', 'rekey', 'a']);
    expect(errorCodeOf(notPending.json)).toBe('INVALID_INPUT');
    expect((notPending.json as { error: { fix: string } }).error.fix).toContain('remove-node');
    channel.close();
  });

  it('ir reject removes a pending node: its channel is refused from then on', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'rejecting');
    await registerOk(ir.key1, { nodeName: 'a', peerKey: syncKey() });
    const b = await registerOk(ir.key1, { nodeName: 'b', peerKey: syncKey() });
    const rejected = await cp.adminOk<{ nodeName: string; was: string }>(['ir', 'reject', 'rejecting', 'b']);
    expect(rejected).toMatchObject({ nodeName: 'b', was: 'pending' });
    expect((await cp.adminOk<NodesJson>(['ir', 'nodes', 'rejecting'])).nodes.map((n) => n.name)).toEqual([
      'a',
    ]);
    const refusal = await TestChannel.refusal(cp.endpoint, `OpenIR-Node ${b.nodeId}:${b.nodeCredential}`);
    expect(refusal.status).toBe(401);
  });

  it('--join-approval auto lets later nodes in at once; a bad policy is refused', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'open');
    const bad = await cp.admin(['ir', 'update', 'open', '--join-approval', 'sometimes']);
    expect(errorCodeOf(bad.json)).toBe('INVALID_INPUT');
    const updated = await cp.adminOk<{ joinApproval: string }>([
      'ir',
      'update',
      'open',
      '--join-approval',
      'auto',
    ]);
    expect(updated.joinApproval).toBe('auto');
    await registerOk(ir.key1, { nodeName: 'a', peerKey: syncKey() });
    expect((await registerOk(ir.key1, { nodeName: 'b', peerKey: syncKey() })).approval).toBe('approved');
    await cp.adminOk(['ir', 'update', 'open', '--join-approval', 'required']);
    expect((await registerOk(ir.key1, { nodeName: 'c', peerKey: syncKey() })).approval).toBe('pending');
    // The policy can also be given as the IR is created.
    const badCreate = await cp.admin(['ir', 'create', 'never', '--join-approval', 'sometimes']);
    expect(errorCodeOf(badCreate.json)).toBe('INVALID_INPUT');
    const created = await cp.adminOk<CreatedIr>(['ir', 'create', 'lab', '--join-approval', 'auto']);
    await registerOk(created.key1, { nodeName: 'a', peerKey: syncKey() });
    expect((await registerOk(created.key1, { nodeName: 'b', peerKey: syncKey() })).approval).toBe('approved');
  });
});

describe('expiring and single-use auth keys', () => {
  it('a single-use key registers one node, then answers AUTH_KEY_USED with a fix; a key check does not use it', async () => {
    const cp = await startControlPlane();
    await createIr(cp, 'once');
    await cp.adminOk(['ir', 'update', 'once', '--join-approval', 'auto']);
    const made = await cp.adminOk<{ key: string; singleUse: boolean; expiresAt: string | null }>([
      'ir',
      'keys',
      'once',
      '--regenerate',
      'key1',
      '--single-use',
    ]);
    expect(made).toMatchObject({ singleUse: true, expiresAt: null });
    const parsed = parseAuthKey(made.key);
    const check = await httpsJson(parsed.endpoint, 'POST', CONTROL_PLANE_PATHS.keyCheck, {
      irId: parsed.irId,
      secret: parsed.secret,
    });
    expect(check.status).toBe(200);
    await registerOk(made.key, { nodeName: 'first' });
    // A refused registration (name taken) must not use the key up: try that on a fresh one below.
    const second = await register(made.key, { nodeName: 'second' });
    expect(second.status).toBe(401);
    expect(second.body).toMatchObject({
      error: { code: 'AUTH_KEY_USED', fix: expect.stringContaining('--regenerate key1 --single-use') },
    });
    const listed = await adminText(cp, ['ir', 'keys', 'once']);
    expect(listed.stdout).toMatch(/key1 .* used 20\d\d-/);

    const fresh = await cp.adminOk<{ key: string }>([
      'ir',
      'keys',
      'once',
      '--regenerate',
      'key2',
      '--single-use',
    ]);
    const taken = await register(fresh.key, { nodeName: 'first' });
    expect(errorCodeOf(taken.body)).toBe('NODE_NAME_TAKEN');
    expect((await registerOk(fresh.key, { nodeName: 'third' })).nodeName).toBe('third');
  });

  it('a key with --expires-in registers until then, and AUTH_KEY_EXPIRED after, with a fix', async () => {
    const cp = await startControlPlane();
    await createIr(cp, 'brief');
    const made = await cp.adminOk<{ key: string; expiresAt: string }>([
      'ir',
      'keys',
      'brief',
      '--regenerate',
      'key1',
      '--expires-in',
      '2s',
    ]);
    expect(Date.parse(made.expiresAt) - Date.now()).toBeLessThanOrEqual(2_000);
    expect((await registerOk(made.key, { nodeName: 'early' })).nodeName).toBe('early');
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Date.parse(made.expiresAt) - Date.now()) + 200),
    );
    const late = await register(made.key, { nodeName: 'late' });
    expect(late.status).toBe(401);
    expect(late.body).toMatchObject({
      error: { code: 'AUTH_KEY_EXPIRED', fix: expect.stringContaining('--expires-in') },
    });
    const listed = await cp.adminOk<{ keys: { slot: string; expiresAt: string | null }[] }>([
      'ir',
      'keys',
      'brief',
    ]);
    expect(listed.keys.find((k) => k.slot === 'key1')?.expiresAt).toBe(made.expiresAt);
    const bad = await cp.admin(['ir', 'keys', 'brief', '--regenerate', 'key1', '--expires-in', 'soon']);
    expect(errorCodeOf(bad.json)).toBe('INVALID_INPUT');
    const noSlot = await cp.admin(['ir', 'keys', 'brief', '--single-use']);
    expect(errorCodeOf(noSlot.json)).toBe('INVALID_INPUT');
  });
});
