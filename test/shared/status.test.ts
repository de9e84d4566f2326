import { describe, expect, it } from 'vitest';
import {
  deriveIrStatus,
  deriveNodeStatus,
  deriveNodeStatusOnControlPlane,
  type NodeFacts,
} from '../../src/shared/status';

const base: NodeFacts = {
  serviceRunning: true,
  registered: true,
  registering: false,
  channel: 'open',
  peersReachable: true,
};

describe('node status', () => {
  it.each<[Partial<NodeFacts>, string]>([
    [{}, 'Online'],
    [{ peersReachable: false }, 'Limited'],
    [{ channel: 'connecting' }, 'Connecting'],
    [{ channel: 'idle' }, 'Connecting'],
    [{ channel: 'unreachable' }, 'Offline'],
    [{ serviceRunning: false }, 'Stopped'],
    [{ registered: false, channel: 'idle' }, 'NeedRegistration'],
    [{ registered: false, registering: true }, 'Registering'],
    [{ serviceRunning: false, registered: false }, 'Stopped'],
  ])('%j → %s', (facts, expected) => {
    expect(deriveNodeStatus({ ...base, ...facts })).toBe(expected);
  });

  it('on the control plane, a silent node is Offline even if its socket looks connected', () => {
    const sighting = { connected: true, lastSeenMs: 1_000, peersReachable: true };
    expect(deriveNodeStatusOnControlPlane(sighting, 1_500, 1_000)).toBe('Online');
    expect(deriveNodeStatusOnControlPlane(sighting, 2_500, 1_000)).toBe('Offline');
    expect(deriveNodeStatusOnControlPlane({ ...sighting, connected: false }, 1_100, 1_000)).toBe('Offline');
    expect(deriveNodeStatusOnControlPlane({ ...sighting, lastSeenMs: null }, 1_100, 1_000)).toBe('Offline');
    expect(deriveNodeStatusOnControlPlane({ ...sighting, peersReachable: false }, 1_100, 1_000)).toBe(
      'Limited',
    );
  });
});

describe('IR status', () => {
  it.each<[string[], string]>([
    [[], 'NeedRegistration'],
    [['Online'], 'Online'],
    [['Online', 'Online'], 'Online'],
    [['Online', 'Offline'], 'Limited'],
    [['Limited'], 'Limited'],
    [['Offline', 'Offline'], 'Offline'],
  ])('%j → %s', (nodes, expected) => {
    expect(deriveIrStatus(nodes as never)).toBe(expected);
  });
});
