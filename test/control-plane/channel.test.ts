import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHANNEL_CLOSE, channelAuthorization, type IrSummary } from '../../src/shared/controlPlaneApi';
import {
  startControlPlane,
  stopAll,
  type CreatedIr,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { TestChannel, errorCodeOf, eventually, heartbeat, registerOk } from './support';

afterAll(stopAll);

async function createIr(cp: RunningControlPlane, name: string): Promise<CreatedIr> {
  const result = await cp.admin<CreatedIr>(['ir', 'create', name]);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.json;
}

async function nodesOf(cp: RunningControlPlane, name: string): Promise<IrSummary> {
  const result = await cp.admin<IrSummary>(['ir', 'nodes', name]);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.json;
}

const statusOf = (ir: IrSummary, nodeName: string) => ir.nodes.find((node) => node.name === nodeName)?.status;

describe('control channel (WebSocket)', () => {
  it('welcomes a registered node, acknowledges heartbeats, and shows it Online then Offline', async () => {
    const cp = await startControlPlane({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 5_000 });
    const ir = await createIr(cp, 'chan');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });

    const channel = await TestChannel.open(cp.endpoint, reg);
    const welcome = await channel.next('welcome');
    expect(welcome).toMatchObject({
      nodeId: reg.nodeId,
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 5_000,
    });
    expect(welcome.ir).toMatchObject({ irId: ir.irId, name: 'chan', status: 'Online' });
    expect(statusOf(welcome.ir, 'alpha')).toBe('Online');

    channel.send(heartbeat({ runningJobs: 2, jobLimit: 6 }));
    const ack = await channel.next('heartbeatAck');
    expect(ack.ir.nodes[0]).toMatchObject({ name: 'alpha', status: 'Online', runningJobs: 2, jobLimit: 6 });

    const online = await nodesOf(cp, 'chan');
    expect(online).toMatchObject({
      status: 'Online',
      nodes: [{ name: 'alpha', status: 'Online', runningJobs: 2, jobLimit: 6 }],
    });
    expect(online.nodes[0]?.lastSeenAt).not.toBeNull();

    channel.close();
    expect((await channel.closed).code).toBe(1000);
    const offline = await eventually(async () => {
      const summary = await nodesOf(cp, 'chan');
      return summary.status === 'Offline' ? summary : undefined;
    });
    expect(statusOf(offline, 'alpha')).toBe('Offline');
    expect(cp.stderr()).not.toContain(reg.nodeCredential);
  });

  it('refuses a wrong or missing credential with HTTP 401 NODE_CREDENTIAL_REJECTED', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-auth');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    const other = await registerOk(ir.key1, { nodeName: 'beta' });

    for (const authorization of [
      channelAuthorization(reg.nodeId, other.nodeCredential),
      channelAuthorization('00000000-0000-4000-8000-000000000000', reg.nodeCredential),
      `Bearer ${reg.nodeCredential}`,
      undefined,
    ]) {
      const refusal = await TestChannel.refusal(cp.endpoint, authorization);
      expect(refusal.status).toBe(401);
      expect(errorCodeOf(refusal.body)).toBe('NODE_CREDENTIAL_REJECTED');
    }
    // An auth key secret is not a node credential either.
    const secret = ir.key1.split('@').at(-1) as string;
    expect((await TestChannel.refusal(cp.endpoint, channelAuthorization(ir.irId, secret))).status).toBe(401);
    expect(statusOf(await nodesOf(cp, 'chan-auth'), 'alpha')).toBe('Offline');
  });

  it('tells the other nodes of the IR when a node comes, turns Limited, and goes', async () => {
    const cp = await startControlPlane({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 5_000 });
    const ir = await createIr(cp, 'chan-ha');
    // This test is about status news between approved nodes (approval has its own tests).
    expect((await cp.admin(['ir', 'update', 'chan-ha', '--join-approval', 'auto'])).code).toBe(0);
    const a = await registerOk(ir.key1, { nodeName: 'a' });
    const b = await registerOk(ir.key2, { nodeName: 'b' });

    const channelA = await TestChannel.open(cp.endpoint, a);
    expect((await channelA.next('welcome')).ir.status).toBe('Limited'); // b is still offline

    const channelB = await TestChannel.open(cp.endpoint, b);
    expect((await channelB.next('welcome')).ir.status).toBe('Online');
    const joined = await channelA.nextIrChanged((s) => statusOf(s, 'b') === 'Online');
    expect(joined.status).toBe('Online');
    expect(channelB.pending('irChanged')).toBe(0);

    channelB.send(heartbeat({ peersReachable: false }));
    const ackB = await channelB.next('heartbeatAck');
    expect(statusOf(ackB.ir, 'b')).toBe('Limited');
    const limited = await channelA.nextIrChanged((s) => statusOf(s, 'b') === 'Limited');
    expect(limited.status).toBe('Limited');

    channelB.close();
    const left = await channelA.nextIrChanged((s) => statusOf(s, 'b') === 'Offline');
    expect(left).toMatchObject({ status: 'Limited' });
    expect(statusOf(left, 'a')).toBe('Online');
    channelA.close();
  });

  it('refuses a second live connection of the same node with 4409 DUPLICATE_NODE, keeping the first', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-duplicate');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    const first = await TestChannel.open(cp.endpoint, reg);
    await first.next('welcome');
    const second = await TestChannel.open(cp.endpoint, reg);
    expect(await second.closed).toEqual({ code: CHANNEL_CLOSE.duplicate, reason: 'DUPLICATE_NODE' });
    expect(second.pending('welcome')).toBe(0);
    // The first one is untouched and still speaks for the node.
    first.send(heartbeat());
    expect(statusOf((await first.next('heartbeatAck')).ir, 'alpha')).toBe('Online');
    expect(first.isOpen).toBe(true);
    expect(cp.stderr()).toContain("Refused a second control channel for node 'alpha'");
    expect(cp.stderr()).not.toContain('closed its previous control channel');
    first.close();
  });

  it('replaces an older connection that no longer answers (4410) and keeps the node Online', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-replace');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    // A link that died without a FIN: it never answers a ping.
    const first = await TestChannel.open(cp.endpoint, reg, { autoPong: false });
    await first.next('welcome');
    const second = await TestChannel.open(cp.endpoint, reg);
    await second.next('welcome');
    expect((await first.closed).code).toBe(CHANNEL_CLOSE.replaced);

    second.send(heartbeat());
    expect(statusOf((await second.next('heartbeatAck')).ir, 'alpha')).toBe('Online');
    expect(statusOf(await nodesOf(cp, 'chan-replace'), 'alpha')).toBe('Online');
    second.close();
  });

  it('closes a silent channel with 4408 and marks the node Offline', async () => {
    const cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 900 });
    const ir = await createIr(cp, 'chan-silent');
    const reg = await registerOk(ir.key1, { nodeName: 'quiet' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    const started = Date.now();
    const closed = await Promise.race([
      channel.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not closed within 5 s')), 5_000)),
    ]);
    expect(closed.code).toBe(CHANNEL_CLOSE.heartbeatTimeout);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(statusOf(await nodesOf(cp, 'chan-silent'), 'quiet')).toBe('Offline');
  });

  it('keeps a channel that heartbeats open past the timeout, ignoring invalid messages', async () => {
    const cp = await startControlPlane({ heartbeatIntervalMs: 500, heartbeatTimeoutMs: 1_500 });
    const ir = await createIr(cp, 'chan-alive');
    const reg = await registerOk(ir.key1, { nodeName: 'busy' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    channel.send('not json');
    channel.send(JSON.stringify({ type: 'heartbeat', runningJobs: -1 }));
    channel.send(JSON.stringify({ type: 'launchMissiles' }));
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      channel.send(heartbeat());
      await channel.next('heartbeatAck');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(Date.now() - started).toBeGreaterThan(1_500);
    expect(channel.isOpen).toBe(true);
    expect(channel.invalidMessages).toEqual([]);
    expect(cp.stderr()).toMatch(/Ignored an invalid message from node 'busy'/);
    channel.close();
  });

  it('keeps registered nodes connected when both keys are regenerated', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-regen');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    for (const slot of ['key1', 'key2']) {
      expect((await cp.admin(['ir', 'keys', 'chan-regen', '--regenerate', slot])).code).toBe(0);
    }
    channel.send(heartbeat());
    expect(statusOf((await channel.next('heartbeatAck')).ir, 'alpha')).toBe('Online');
    expect(channel.isOpen).toBe(true);
    // A reconnect still works: the node authenticates with its credential, not a key.
    channel.close();
    await channel.closed;
    const again = await TestChannel.open(cp.endpoint, reg);
    expect((await again.next('welcome')).nodeId).toBe(reg.nodeId);
    again.close();
  });

  it('closes the channel of a removed node (4401) at its next heartbeat', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-remove');
    const reg = await registerOk(ir.key1, { nodeName: 'gone' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    expect((await cp.admin(['ir', 'remove-node', 'chan-remove', 'gone'])).code).toBe(0);
    channel.send(heartbeat());
    expect((await channel.closed).code).toBe(CHANNEL_CLOSE.credentialRejected);
    expect(
      (await TestChannel.refusal(cp.endpoint, channelAuthorization(reg.nodeId, reg.nodeCredential))).status,
    ).toBe(401);
  });

  it('closes channels with 1001 on SIGTERM and exits 0', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-stop');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    expect(await cp.stop()).toBe(0);
    expect((await channel.closed).code).toBe(1001);
    expect(existsSync(path.join(cp.dataDir, 'serve.lock'))).toBe(false);
  });

  it('starts with every node Offline after a crash left them marked connected', async () => {
    const cp = await startControlPlane();
    const ir = await createIr(cp, 'chan-crash');
    const reg = await registerOk(ir.key1, { nodeName: 'alpha' });
    const channel = await TestChannel.open(cp.endpoint, reg);
    await channel.next('welcome');
    expect(statusOf(await nodesOf(cp, 'chan-crash'), 'alpha')).toBe('Online');
    await cp.kill();
    await channel.closed;

    // The killed server left its lock file behind; the next start takes it over.
    expect(existsSync(path.join(cp.dataDir, 'serve.lock'))).toBe(true);
    const restarted = await startControlPlane({ dataDir: cp.dataDir });
    expect(restarted.pin).toBe(cp.pin);
    expect(statusOf(await nodesOf(restarted, 'chan-crash'), 'alpha')).toBe('Offline');
    const back = await TestChannel.open(restarted.endpoint, reg);
    expect(statusOf((await back.next('welcome')).ir, 'alpha')).toBe('Online');
    back.close();
  });
});
