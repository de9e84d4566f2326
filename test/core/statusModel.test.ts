import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/shared/contract';
import type { IrNodeInfo } from '../../src/shared/controlPlaneApi';
import { OpenIrError } from '../../src/shared/errors';
import type { Registration } from '../../src/core/config';
import { StatusModel, type SessionFacts } from '../../src/core/statusModel';

const registration: Registration = {
  irId: 'ir-1',
  irName: 'sales',
  nodeId: 'node-1',
  nodeName: 'alpha',
  fqdn: 'alpha.corp',
  endpoint: 'https://cp.corp:8443',
  pin: 'pin',
  controlPlaneCaPem: 'pem',
  registeredAt: '2026-01-01T00:00:00.000Z',
  heartbeatIntervalMs: 5000,
  heartbeatTimeoutMs: 15000,
};

/** A status model over facts the test changes by hand, and the reports it pushed. */
function model() {
  const facts = {
    running: true,
    registering: false,
    session: null as SessionFacts | null,
    peers: { peersReachable: true, peersProblem: null as OpenIrError | null },
    jobs: { running: 0, limit: 4 },
    cpu: 12,
  };
  const pushed: StatusReport[] = [];
  const status = new StatusModel({
    version: '1.2.3',
    dataDir: '/data',
    startedAt: '2026-01-01T00:00:00.000Z',
    vault: {
      backend: { id: 'encrypted-file', label: 'Encrypted file', strength: 'weak', description: 'A file.' },
    },
    serviceRunning: () => facts.running,
    registering: () => facts.registering,
    session: () => facts.session,
    peers: facts.peers,
    jobs: facts.jobs,
    metrics: { sample: () => ({ cpuPercent: facts.cpu, memoryUsedBytes: 1, memoryTotalBytes: 2 }) },
    push: (report) => pushed.push(report),
  });
  return { facts, status, pushed };
}

describe('status model', () => {
  it('derives the report from the facts: stopped, unregistered, registering, connecting, online, limited', () => {
    const { facts, status } = model();
    facts.running = false;
    expect(status.report(false)).toMatchObject({
      status: 'Stopped',
      registered: false,
      ir: null,
      irNodes: [],
    });
    facts.running = true;
    expect(status.report(false).status).toBe('NeedRegistration');
    facts.registering = true;
    expect(status.report(false).status).toBe('Registering');
    facts.registering = false;
    const node: IrNodeInfo = {
      nodeId: 'node-1',
      name: 'alpha',
      fqdn: 'alpha.corp',
      version: '1.2.3',
      status: 'Online',
      registeredAt: '2026-01-01T00:00:00.000Z',
      lastSeenAt: null,
      runningJobs: 0,
      jobLimit: 4,
      remoteAccessUrl: null,
      remoteAccessCertSha256: null,
      peerKey: null,
      approval: 'approved',
      approvedPeerKey: null,
      syncKeyFingerprint: null,
    };
    facts.session = { registration, state: 'connecting', connectedSince: null, irNodes: [node] };
    expect(status.report(false)).toMatchObject({
      status: 'Connecting',
      registered: true,
      ir: { id: 'ir-1', name: 'sales' },
      node: { id: 'node-1', name: 'alpha', fqdn: 'alpha.corp' },
      controlPlane: { endpoint: 'https://cp.corp:8443' },
      irNodes: [node],
    });
    facts.session = { ...facts.session, state: 'open', connectedSince: '2026-01-02T00:00:00.000Z' };
    expect(status.report(false)).toMatchObject({
      status: 'Online',
      connectedSince: '2026-01-02T00:00:00.000Z',
    });
    facts.peers.peersReachable = false;
    expect(status.report(false).status).toBe('Limited');
  });

  it('shows its own problem first, then the peers problem; samples the system only when asked', () => {
    const { facts, status } = model();
    facts.peers.peersProblem = new OpenIrError('PEERS_UNREACHABLE', 'Peer beta is down.');
    expect(status.report(false).lastError).toMatchObject({ code: 'PEERS_UNREACHABLE' });
    status.setProblem(new OpenIrError('CONTROL_PLANE_UNREACHABLE', 'Down.'));
    expect(status.report(false).lastError).toMatchObject({ code: 'CONTROL_PLANE_UNREACHABLE' });
    status.setProblem(null);
    expect(status.report(false).lastError).toMatchObject({ code: 'PEERS_UNREACHABLE' });
    expect(status.report(true).system.cpuPercent).toBe(12);
    expect(status.report(false).system.cpuPercent).toBe(0);
  });

  it('pushes statusChanged only when the report (the system sample aside) changed', () => {
    const { facts, status, pushed } = model();
    status.changed();
    expect(pushed).toHaveLength(1);
    expect(pushed[0]?.status).toBe('NeedRegistration');
    status.changed();
    facts.cpu = 99;
    status.changed();
    expect(pushed).toHaveLength(1);
    facts.jobs.running = 2;
    status.changed();
    status.changed();
    expect(pushed).toHaveLength(2);
    expect(pushed[1]?.jobs).toEqual({ running: 2, limit: 4 });
    facts.running = false;
    status.changed();
    expect(pushed.map((r) => r.status)).toEqual(['NeedRegistration', 'NeedRegistration', 'Stopped']);
  });

  it('answers peers asking for health from the same report', () => {
    const { facts, status } = model();
    expect(status.health()).toEqual({
      nodeName: null,
      irName: null,
      version: '1.2.3',
      state: 'NeedRegistration',
    });
    facts.session = { registration, state: 'open', connectedSince: 'x', irNodes: [] };
    expect(status.health()).toEqual({
      nodeName: 'alpha',
      irName: 'sales',
      version: '1.2.3',
      state: 'Online',
    });
  });

  it('shows Pending with the sync key fingerprint and the approve command; a changed key names itself', () => {
    const { facts, status } = model();
    const self: IrNodeInfo = {
      nodeId: 'node-1',
      name: 'alpha',
      fqdn: 'alpha.corp',
      version: '1.2.3',
      status: 'Pending',
      registeredAt: '2026-01-01T00:00:00.000Z',
      lastSeenAt: null,
      runningJobs: 0,
      jobLimit: 4,
      remoteAccessUrl: null,
      remoteAccessCertSha256: null,
      peerKey: 'AAAA',
      approval: 'pending',
      approvedPeerKey: null,
      syncKeyFingerprint: null,
    };
    // SHA-256 of the bytes 00 00 00 (base64 "AAAA"), unpadded base64.
    const fingerprint = 'SHA256:cJ6AyISHokEeHuTfufIqhhSS0gxHZRUMDHlKvXD4FHw';
    facts.session = { registration, state: 'open', connectedSince: 'x', irNodes: [self], syncKey: 'AAAA' };
    const pending = status.report(false);
    expect(pending.status).toBe('Pending');
    expect(pending.syncKeyFingerprint).toBe(fingerprint);
    expect(pending.lastError).toMatchObject({ code: 'NODE_PENDING_APPROVAL' });
    expect(pending.lastError?.fix).toContain(`ir approve 'sales' alpha --fingerprint ${fingerprint}`);
    // Not connected: the channel state wins (a Pending node that is Offline shows Offline).
    facts.session = { ...facts.session, state: 'unreachable' };
    expect(status.report(false).status).toBe('Offline');

    facts.session = {
      ...facts.session,
      state: 'open',
      irNodes: [{ ...self, status: 'Online', approval: 'approved', approvedPeerKey: 'BBBB' }],
    };
    const changed = status.report(false);
    expect(changed.status).toBe('Online');
    expect(changed.lastError).toMatchObject({ code: 'PEER_KEY_CHANGED' });
    facts.session = {
      ...facts.session,
      irNodes: [{ ...self, approval: 'approved', approvedPeerKey: 'AAAA' }],
    };
    expect(status.report(false).lastError).toBeNull();
  });
});
