import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAuthKey, parseAuthKey } from '../../src/shared/authKey';
import { BackupService } from '../../src/core/backup/service';
import type { Registration } from '../../src/core/config';
import { NODE_CREDENTIAL } from '../../src/core/controlPlaneClient';
import { PeerKey } from '../../src/core/peerSeal';
import { StatusModel } from '../../src/core/statusModel';
import {
  defaultNodeName,
  RegistrationService,
  removedNode,
} from '../../src/core/session/registrationService';
import { startControlPlane, stopAll, type RunningControlPlane } from '../helpers/controlPlane';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs } from '../helpers/tmp';

let cp: RunningControlPlane;
beforeAll(async () => {
  cp = await startControlPlane();
});
afterAll(async () => {
  await stopAll();
  cleanupTempDirs();
});

/**
 * A registration service on real parts (config, vault, status model, backup
 * service's clean-up); the session links and the statuses pushed are
 * recorded in `calls`.
 */
function service() {
  const parts = coreParts('openir-reg-');
  const calls: string[] = [];
  const state = { running: true, registration: null as Registration | null, credentialsCleared: 0 };
  const backups = new BackupService({ ...parts, dataDir: parts.home, version: '9.9.9' });
  const status: StatusModel = new StatusModel({
    version: '9.9.9',
    dataDir: parts.home,
    startedAt: '2026-03-01T12:00:00.000Z',
    vault: parts.vault,
    serviceRunning: () => state.running,
    registering: () => registrations.registering,
    session: () =>
      state.registration && {
        registration: state.registration,
        state: 'idle',
        connectedSince: null,
        irNodes: [],
      },
    peers: { peersReachable: true, peersProblem: null },
    jobs: { running: 0, limit: 2 },
    metrics: { sample: () => ({ cpuPercent: 0, memoryUsedBytes: 0, memoryTotalBytes: 1 }) },
    push: (report) => calls.push(`status ${report.status}`),
  });
  const registrations: RegistrationService = new RegistrationService({
    ...parts,
    fqdn: 'alpha.openir.test',
    version: '9.9.9',
    clock: () => new Date('2026-03-01T12:00:00.000Z'),
    serviceRunning: () => state.running,
    remoteAccess: { set: async () => undefined, url: null, certSha256: null },
    peerKey: () => PeerKey.load(parts.vault),
    status,
    session: {
      get registration() {
        return state.registration;
      },
      adopt: async (reg) => {
        calls.push(`adopt ${reg?.nodeName ?? null}`);
        state.registration = reg;
      },
      close: async () => void calls.push('close'),
      connect: async () => void calls.push('connect'),
      settle: async () => void calls.push('settle'),
    },
    jobs: { cancelAll: (why) => calls.push(`cancelAll ${why}`) },
    clearRegistration: async () => {
      calls.push('clearRegistration');
      await backups.clearRegistration();
    },
    clearCredentials: async () => void state.credentialsCleared++,
  });
  return { ...parts, calls, state, status, registrations };
}

async function nodesOf(irName: string): Promise<string[]> {
  const listed = await cp.admin<{ nodes: { name: string }[] }>(['ir', 'nodes', irName]);
  return listed.json.nodes.map((n) => n.name);
}

describe('registration service', () => {
  it('registers: saves the registration and node credential, adopts it as the session, connects and settles', async () => {
    const ir = await cp.createIr('reg-ok');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    expect(s.state.registration).toMatchObject({
      irName: 'reg-ok',
      nodeName: 'alpha',
      fqdn: 'alpha.openir.test',
      endpoint: cp.endpoint,
      registeredAt: '2026-03-01T12:00:00.000Z',
    });
    expect((await s.config.load()).registration).toEqual(s.state.registration);
    expect(await s.vault.get(NODE_CREDENTIAL)).toMatch(/.{20,}/);
    // Registering shows while it runs; the new session is adopted before it stops showing (never
    // NeedRegistration in between), then it connects and waits for the first Online.
    expect(s.calls).toEqual(['status Registering', 'adopt alpha', 'status Connecting', 'connect', 'settle']);
    expect(s.messages()).toEqual(
      expect.arrayContaining(['Registering with the control plane.', 'Registered.']),
    );
    expect(await nodesOf('reg-ok')).toEqual(['alpha']);
  });

  it('a failed registration shows its error, adopts nothing and leaves the node unregistered', async () => {
    const ir = await cp.createIr('reg-down');
    const s = service();
    const down = formatAuthKey({ ...parseAuthKey(ir.key1), endpoint: 'https://127.0.0.1:1' });
    await expect(s.registrations.register({ authKey: down, nodeName: 'alpha' })).rejects.toMatchObject({
      code: 'CONTROL_PLANE_UNREACHABLE',
    });
    expect(s.calls).toEqual(['status Registering', 'status NeedRegistration']);
    expect(s.status.report(false).lastError).toMatchObject({ code: 'CONTROL_PLANE_UNREACHABLE' });
    expect(
      s.messages().some((m) => m.startsWith('Registration failed: Cannot reach the control plane')),
    ).toBe(true);
    // The next attempt starts clean.
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    expect(s.status.report(false).lastError).toBeNull();
  });

  it('names the node after the host when no name is given', () => {
    expect(defaultNodeName('web-01.corp.example')).toBe('web-01');
    expect(defaultNodeName('__.corp')).toBe('node');
  });

  it('refuses a second registration without --replace, and a registration while one runs', async () => {
    const ir = await cp.createIr('reg-twice');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    await expect(s.registrations.register({ authKey: ir.key2 })).rejects.toMatchObject({
      code: 'ALREADY_REGISTERED',
      message: expect.stringContaining('"alpha" in the integration runtime "reg-twice"'),
    });
    const other = service();
    const first = other.registrations.register({ authKey: ir.key2, nodeName: 'beta' });
    await expect(other.registrations.register({ authKey: ir.key2, nodeName: 'gamma' })).rejects.toMatchObject(
      {
        code: 'REGISTRATION_IN_PROGRESS',
      },
    );
    // The join rule refuses a second node without remote access; what matters here is the refusal above.
    await first.catch(() => undefined);
    expect(other.registrations.registering).toBe(false);
  });

  it('with the service stopped, --replace keeps the old registration (nothing given up)', async () => {
    const ir = await cp.createIr('reg-stopped');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    const before = s.state.registration;
    s.calls.length = 0;
    s.state.running = false;
    await expect(
      s.registrations.register({ authKey: ir.key2, nodeName: 'alpha2', replace: true }),
    ).rejects.toMatchObject({ code: 'SERVICE_STOPPED' });
    expect(s.calls).toEqual([]);
    expect(s.state.registration).toBe(before);
    expect((await s.config.load()).registration).toEqual(before);
    expect(await nodesOf('reg-stopped')).toEqual(['alpha']);
  });

  it('with a malformed new key, --replace keeps the old registration', async () => {
    const ir = await cp.createIr('reg-badkey');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    s.calls.length = 0;
    await expect(s.registrations.register({ authKey: 'not-a-key', replace: true })).rejects.toMatchObject({
      code: 'AUTH_KEY_WRONG_PREFIX',
    });
    expect(s.calls).toEqual([]);
    expect(await nodesOf('reg-badkey')).toEqual(['alpha']);
  });

  it('--replace gives up the old registration first, keeping the data store credentials', async () => {
    const ir = await cp.createIr('reg-replace');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    s.calls.length = 0;
    await s.registrations.register({ authKey: ir.key2, nodeName: 'alpha2', replace: true });
    expect(s.calls.slice(0, 4)).toEqual([
      'cancelAll This node was unregistered.',
      'close',
      'clearRegistration',
      'adopt null',
    ]);
    expect(s.state.credentialsCleared).toBe(0);
    expect(s.state.registration?.nodeName).toBe('alpha2');
    expect(await nodesOf('reg-replace')).toEqual(['alpha2']);
  });

  it('unregisters: the control plane forgets the node, then this machine cleans up in order', async () => {
    const ir = await cp.createIr('reg-unreg');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    s.calls.length = 0;
    const result = await s.registrations.unregister({});
    expect(result).toMatchObject({
      controlPlaneRemoved: true,
      notice: null,
      node: { name: 'alpha' },
      ir: { name: 'reg-unreg' },
      status: { registered: false },
    });
    expect(s.calls).toEqual([
      'cancelAll This node was unregistered.',
      'close',
      'clearRegistration',
      'adopt null',
      'status NeedRegistration',
    ]);
    expect(s.state.credentialsCleared).toBe(1);
    expect(await s.vault.get(NODE_CREDENTIAL)).toBeNull();
    expect((await s.config.load()).registration).toBeNull();
    expect(await nodesOf('reg-unreg')).toEqual([]);
    await expect(s.registrations.unregister({})).rejects.toMatchObject({ code: 'NOT_REGISTERED' });
  });

  it('a node the control plane already removed unregisters cleanly; an unreachable one only with force', async () => {
    const ir = await cp.createIr('reg-removed');
    const s = service();
    await s.registrations.register({ authKey: ir.key1, nodeName: 'alpha' });
    expect((await cp.admin(['ir', 'remove-node', 'reg-removed', 'alpha'])).code).toBe(0);
    expect(await s.registrations.unregister({})).toMatchObject({
      controlPlaneRemoved: true,
      notice: 'The control plane had already removed this node.',
    });

    const ir2 = await cp.createIr('reg-unreachable');
    const t = service();
    await t.registrations.register({ authKey: ir2.key1, nodeName: 'beta' });
    t.state.registration = { ...(t.state.registration as Registration), endpoint: 'https://127.0.0.1:1' };
    await expect(t.registrations.unregister({})).rejects.toMatchObject({
      message: expect.stringContaining('Nothing was changed.'),
    });
    expect(t.state.registration).not.toBeNull();
    const forced = await t.registrations.unregister({ force: true });
    expect(forced.controlPlaneRemoved).toBe(false);
    expect(forced.notice).toContain('openir-control-plane ir remove-node');
    expect(t.state.registration).toBeNull();
  });

  it('tells a removed node how to register again', () => {
    const error = removedNode({ nodeName: 'alpha', irName: 'sales' } as Registration);
    expect(error.code).toBe('NODE_CREDENTIAL_REJECTED');
    expect(error.message).toContain('"alpha" was removed from the integration runtime "sales"');
    expect(error.fix).toContain('openir unregister');
  });
});
