import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import type { OpenIrError } from '../../src/shared/errors';
import type { Registration } from '../../src/core/config';
import { NODE_CREDENTIAL, registerWithControlPlane } from '../../src/core/controlPlaneClient';
import { PEER_SYNC_KEY, PeerKey } from '../../src/core/peerSeal';
import { pinnedTlsOptions, probeControlPlane } from '../../src/core/pinnedTls';
import { NodeSession } from '../../src/core/session/nodeSession';
import { removedNode } from '../../src/core/session/registrationService';
import { startControlPlane, stopAll, type RunningControlPlane } from '../helpers/controlPlane';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs } from '../helpers/tmp';

const HEARTBEAT_TIMEOUT_MS = 1500;
const NOW = new Date('2026-04-01T08:00:00.000Z');

let cp: RunningControlPlane;
beforeAll(async () => {
  cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
});
afterAll(async () => {
  await stopAll();
  cleanupTempDirs();
});

/** Registers a node in a new IR of `on`, the way RegistrationService does, and returns its parts. */
async function registeredNode(on: RunningControlPlane, irName: string) {
  const parts = coreParts('openir-session-');
  const key = parseAuthKey((await on.createIr(irName)).key1);
  const { caPem } = await probeControlPlane(key.endpoint, key.pin, parts.connector());
  const answer = await registerWithControlPlane(
    key.endpoint,
    pinnedTlsOptions(caPem, key.pin),
    parts.connector(),
    {
      irId: key.irId,
      secret: key.secret,
      nodeName: 'alpha',
      fqdn: 'alpha.openir.test',
      version: '9.9.9',
      platform: 'linux-x64',
      remoteAccessUrl: null,
      remoteAccessCertSha256: null,
      peerKey: null,
    },
  );
  await parts.vault.set(NODE_CREDENTIAL, answer.nodeCredential);
  const registration: Registration = {
    irId: answer.irId,
    irName: answer.irName,
    nodeId: answer.nodeId,
    nodeName: answer.nodeName,
    fqdn: 'alpha.openir.test',
    endpoint: key.endpoint,
    pin: key.pin,
    controlPlaneCaPem: caPem,
    registeredAt: NOW.toISOString(),
    heartbeatIntervalMs: answer.heartbeatIntervalMs,
    heartbeatTimeoutMs: answer.heartbeatTimeoutMs,
  };
  return { ...parts, registration };
}

/** A session on real parts; what it tells the rest of the host is recorded. */
function session(node: Awaited<ReturnType<typeof registeredNode>>) {
  const seen = {
    events: [] as string[],
    problems: [] as (string | null)[],
    cancelled: [] as string[],
    jobs: { running: 0, limit: 7, activeJobIds: [] as string[] },
  };
  const s = new NodeSession(node.registration, {
    ...node,
    channelLog: node.logger.child('control-channel'),
    reconnectMinMs: 100,
    reconnectMaxMs: 300,
    clock: () => NOW,
    jobs: {
      get running() {
        return seen.jobs.running;
      },
      limit: seen.jobs.limit,
      activeJobIds: seen.jobs.activeJobIds,
      received: () => seen.events.push('job message'),
      flush: () => seen.events.push('flush'),
      cancelAll: (why) => seen.cancelled.push(why),
    },
    metrics: { sample: () => ({ cpuPercent: 1, memoryUsedBytes: 2, memoryTotalBytes: 3 }) },
    remoteAccess: { url: null, certSha256: null },
    sync: {
      peersReachable: true,
      startSync: () => seen.events.push('startSync'),
      peersChanged: () => seen.events.push('peersChanged'),
    },
    credentialRejected: removedNode,
    status: {
      setProblem: (problem: OpenIrError | null) => seen.problems.push(problem?.code ?? null),
      changed: () => undefined,
    },
    irNodesChanged: () => seen.events.push(`irNodes ${s.irNodes.length}`),
  });
  return { s, seen };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function nodesOf(on: RunningControlPlane, irName: string) {
  const listed = await on.admin<{ nodes: { status: string; jobLimit: number; peerKey: string | null }[] }>([
    'ir',
    'nodes',
    irName,
  ]);
  return listed.json.nodes;
}

describe('node session', () => {
  it('connects, goes Online at the clock time, learns the IR and heartbeats what the jobs say', async () => {
    const node = await registeredNode(cp, 'session-ok');
    const { s, seen } = session(node);
    expect(s.state).toBe('idle');
    await s.connect();
    await s.waitForSettled(8000);
    expect(s.state).toBe('open');
    expect(s.connectedSince).toBe(NOW.toISOString());
    expect(seen.problems).toContain(null);
    expect(seen.events).toEqual(expect.arrayContaining(['startSync', 'flush']));
    await until(() => s.irNodes.length === 1);
    expect(s.irNodes[0]).toMatchObject({ name: 'alpha', fqdn: 'alpha.openir.test' });
    expect(seen.events).toEqual(expect.arrayContaining(['peersChanged', 'irNodes 1']));
    // The heartbeat carries the jobs' limit and the session's own sync key.
    const key = await s.peerKey();
    await until(async () => {
      const [listed] = await nodesOf(cp, 'session-ok');
      return listed?.jobLimit === 7 && listed.peerKey === key.publicKey;
    });
    await s.dispose();
  });

  it('creates its sync key once, in the vault', async () => {
    const node = await registeredNode(cp, 'session-key');
    const { s } = session(node);
    const [a, b] = await Promise.all([s.peerKey(), s.peerKey()]);
    expect(a).toBe(b);
    expect(await node.vault.get(PEER_SYNC_KEY)).not.toBeNull();
    expect((await PeerKey.load(node.vault)).publicKey).toBe(a.publicKey);
  });

  it('without its node credential it settles at once as unreachable (VAULT_UNAVAILABLE)', async () => {
    const node = await registeredNode(cp, 'session-nocred');
    await node.vault.delete(NODE_CREDENTIAL);
    const { s, seen } = session(node);
    await s.connect();
    await s.waitForSettled(60_000);
    expect(s.state).toBe('unreachable');
    expect(seen.problems).toEqual(['VAULT_UNAVAILABLE']);
  });

  it('a node removed on the control plane hears how to register again', async () => {
    const node = await registeredNode(cp, 'session-removed');
    const { s, seen } = session(node);
    await s.connect();
    await s.waitForSettled(8000);
    expect((await cp.admin(['ir', 'remove-node', 'session-removed', 'alpha'])).code).toBe(0);
    await until(() => seen.problems.includes('NODE_CREDENTIAL_REJECTED'));
    expect(s.state).toBe('unreachable');
    await s.dispose();
  });

  it('stops its jobs once the channel stays down past the heartbeat timeout; forgets the IR at once', async () => {
    const own = await startControlPlane({
      heartbeatIntervalMs: 300,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    });
    const node = await registeredNode(own, 'session-lost');
    const { s, seen } = session(node);
    await s.connect();
    await s.waitForSettled(8000);
    await until(() => s.irNodes.length === 1);
    seen.jobs.running = 1;
    await own.kill();
    await until(() => s.state === 'unreachable' || s.state === 'connecting');
    expect(s.irNodes).toEqual([]);
    expect(seen.events).toContain('irNodes 0');
    expect(seen.cancelled).toEqual([]);
    await until(() => seen.cancelled.length > 0, HEARTBEAT_TIMEOUT_MS + 3000);
    expect(seen.cancelled).toEqual([
      'The control channel was down longer than the heartbeat timeout; the control plane re-queues the job.',
    ]);
    await s.dispose();
  });

  it('once disposed, it closes the channel, ends a wait, arms no timer and does not connect again', async () => {
    const node = await registeredNode(cp, 'session-dispose');
    const { s, seen } = session(node);
    await s.connect();
    await s.waitForSettled(8000);
    await until(async () => (await nodesOf(cp, 'session-dispose'))[0]?.status === 'Online');
    seen.jobs.running = 1;
    await s.dispose();
    await until(async () => (await nodesOf(cp, 'session-dispose'))[0]?.status === 'Offline');
    await s.connect();
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_TIMEOUT_MS + 500));
    expect(seen.cancelled).toEqual([]);
    expect((await nodesOf(cp, 'session-dispose'))[0]?.status).toBe('Offline');

    const idle = session(node).s;
    const started = Date.now();
    const waiting = idle.waitForSettled(60_000);
    await idle.dispose();
    await waiting;
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
