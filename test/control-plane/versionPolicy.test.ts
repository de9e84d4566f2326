import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/control-plane/clock';
import { IrRegistry } from '../../src/control-plane/registry';
import { ControlPlaneStore } from '../../src/control-plane/store';
import { shownNodes } from '../../src/control-plane/shownNodes';
import type { IrNodeInfo, IrSummary } from '../../src/shared/controlPlaneApi';
import type { StatusReport } from '../../src/shared/contract';
import {
  compareVersions,
  majorityVersion,
  versionStanding,
  type VersionPolicy,
} from '../../src/shared/versionPolicy';
import { trayModel } from '../../src/main/trayModel';

const at = (iso: string) => Date.parse(iso);
const policy = (over: Partial<VersionPolicy> = {}): VersionPolicy => ({
  latest: '0.2.0',
  minimum: null,
  expires: [{ version: '0.1.0', on: '2027-06-30' }],
  updatedAt: '2026-12-01T00:00:00.000Z',
  ...over,
});

describe('version policy: the standing of a version', () => {
  it('orders versions, a pre-release before its release', () => {
    expect(compareVersions('0.2.0', '0.10.0')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '0.99.99')).toBeGreaterThan(0);
    expect(compareVersions('0.2.0-rc.1', '0.2.0')).toBeLessThan(0);
    expect(compareVersions('0.2.0', '0.2.0')).toBe(0);
  });

  it('offers the update only to older versions', () => {
    expect(versionStanding(policy(), '0.1.0', at('2026-12-03T00:00:00Z')).updateAvailable).toBe('0.2.0');
    expect(versionStanding(policy(), '0.2.0', at('2026-12-03T00:00:00Z')).updateAvailable).toBeNull();
    expect(versionStanding(policy(), '0.3.0', at('2026-12-03T00:00:00Z')).updateAvailable).toBeNull();
  });

  it('warns from exactly 90 days before the expiry date, and refuses from 00:00 UTC that day', () => {
    // 2027-06-30 minus 90 days is 2027-04-01.
    const before = versionStanding(policy(), '0.1.0', at('2027-03-31T23:59:59Z'));
    expect(before).toMatchObject({ expiresOn: null, refused: null });
    const warned = versionStanding(policy(), '0.1.0', at('2027-04-01T00:00:00Z'));
    expect(warned).toMatchObject({ expiresOn: '2027-06-30', refused: null });
    const lastDay = versionStanding(policy(), '0.1.0', at('2027-06-29T23:59:59Z'));
    expect(lastDay.refused).toBeNull();
    const expired = versionStanding(policy(), '0.1.0', at('2027-06-30T00:00:00Z'));
    expect(expired).toMatchObject({ expiresOn: '2027-06-30', refused: 'expired' });
    // Another version's expiry says nothing about this one.
    expect(versionStanding(policy(), '0.1.1', at('2027-07-01T00:00:00Z')).refused).toBeNull();
  });

  it('refuses versions below the minimum', () => {
    const p = policy({ minimum: '0.1.5' });
    expect(versionStanding(p, '0.1.4', at('2026-12-03T00:00:00Z')).refused).toBe('belowMinimum');
    expect(versionStanding(p, '0.1.5', at('2026-12-03T00:00:00Z')).refused).toBeNull();
  });

  it('finds the majority version; a tie has none', () => {
    expect(majorityVersion(['0.1.0', '0.1.0', '0.0.9'])).toBe('0.1.0');
    expect(majorityVersion(['0.1.0', '0.2.0'])).toBeNull();
    expect(majorityVersion([])).toBeNull();
  });
});

describe('version policy on the control plane: the clock decides the date', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const open = (clock: Clock) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'openir-cp-version-'));
    dirs.push(dir);
    return ControlPlaneStore.open(path.join(dir, 'control-plane.db'), clock);
  };

  it('stores the policy (migration 9) and refuses a version from its expiry date on', () => {
    const clock = { ms: at('2027-06-29T12:00:00Z'), nowMs: () => clock.ms };
    const store = open(clock);
    try {
      const registry = new IrRegistry({ store, clock, heartbeatTimeoutMs: 15_000 });
      registry.checkVersion('0.1.0'); // no policy: everything accepted
      store.setVersionPolicy(
        { latest: '0.2.0', minimum: null, expires: [{ version: '0.1.0', on: '2027-06-30' }] },
        clock.ms,
      );
      expect(store.getVersionPolicy()).toMatchObject({
        latest: '0.2.0',
        expires: [{ version: '0.1.0', on: '2027-06-30' }],
      });
      registry.checkVersion('0.1.0');
      clock.ms = at('2027-06-30T00:00:00Z');
      expect(() => registry.checkVersion('0.1.0')).toThrow(/expired on 2027-06-30/);
      try {
        registry.checkVersion('0.1.0');
      } catch (error) {
        expect((error as { code: string }).code).toBe('VERSION_EXPIRED');
        expect((error as { fix: string }).fix).toContain('0.2.0');
      }
      // A later set moves an expiry and keeps the others.
      store.setVersionPolicy(
        { latest: '0.3.0', minimum: '0.0.5', expires: [{ version: '0.1.0', on: '2028-01-01' }] },
        clock.ms,
      );
      registry.checkVersion('0.1.0');
      expect(() => registry.checkVersion('0.0.4')).toThrow(/older than the oldest version/);
    } finally {
      store.close();
    }
  });
});

const node = (name: string, version: string, over: Partial<IrNodeInfo> = {}): IrNodeInfo => ({
  nodeId: name,
  name,
  fqdn: `${name}.test`,
  version,
  status: 'Online',
  registeredAt: '2026-12-01T00:00:00.000Z',
  lastSeenAt: null,
  runningJobs: 0,
  jobLimit: 4,
  remoteAccessUrl: null,
  remoteAccessCertSha256: null,
  peerKey: null,
  approval: 'approved',
  approvedPeerKey: null,
  syncKeyFingerprint: null,
  ...over,
});

describe('ir nodes: how each node is shown', () => {
  const summary = (nodes: IrNodeInfo[]): IrSummary => ({ irId: 'i', name: 'ir', status: 'Online', nodes });

  it('Limited for an up node off the majority version; Upgrading while draining; Offline stays Offline', () => {
    const shown = shownNodes(
      summary([
        node('a', '0.1.0'),
        node('b', '0.1.0'),
        node('c', '0.0.9'),
        node('d', '0.0.9', { status: 'Offline' }),
        node('e', '0.1.0', { draining: true }),
      ]),
    );
    expect(shown.majority).toBe('0.1.0');
    expect(Object.fromEntries(shown.nodes.map((n) => [n.name, n.shownStatus]))).toEqual({
      a: 'Online',
      b: 'Online',
      c: 'Limited',
      d: 'Offline',
      e: 'Upgrading',
    });
  });

  it('marks nobody on a tie (one node of each during a two-node rolling update)', () => {
    const shown = shownNodes(summary([node('a', '0.1.0'), node('b', '0.2.0')]));
    expect(shown.nodes.every((n) => !n.versionDiffers && n.shownStatus === 'Online')).toBe(true);
  });
});

describe('tray tooltip', () => {
  const base: StatusReport = {
    status: 'Online',
    registered: true,
    serviceRunning: true,
    version: '0.1.0',
    ir: { id: 'ir-1', name: 'sales-ir' },
    node: { id: 'n-1', name: 'node1', fqdn: 'node1.example' },
    controlPlane: { endpoint: 'https://cp:8443' },
    connectedSince: null,
    lastError: null,
    jobs: { running: 2, limit: 8 },
    system: { cpuPercent: 1, memoryUsedBytes: 1, memoryTotalBytes: 2 },
    vault: { id: 'secret-service', label: 'Secret Service', strength: 'strong', description: '' },
    irNodes: [],
    host: { pid: 1, dataDir: '/tmp', startedAt: '2026-01-01T00:00:00.000Z' },
  };

  it('names the update, the expiry date and a drain', () => {
    expect(trayModel(base).tooltip).not.toContain('Update available');
    const tooltip = trayModel({
      ...base,
      versionStanding: {
        version: '0.1.0',
        latest: '0.2.0',
        updateAvailable: '0.2.0',
        expiresOn: '2027-06-30',
        refused: null,
        minimum: null,
      },
      drain: { state: 'draining', startedAt: '2026-12-03T10:00:00.000Z', requestedBy: 'node' },
    }).tooltip;
    expect(tooltip).toContain('Update available: 0.2.0');
    expect(tooltip).toContain('This version expires on 2027-06-30');
    expect(tooltip).toContain('Draining');
  });
});
