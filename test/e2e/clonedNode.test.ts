import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import { cleanupTempDirs } from '../helpers/tmp';

/**
 * A cloned identity (security review): one node's data directory copied to a
 * second machine (a cloned VM, a backup restored twice). Before, the two hosts
 * replaced each other's control channel 30 times in 11 s. Now the control
 * plane refuses the newcomer with 4409 DUPLICATE_NODE while the first still
 * answers, and the copy stops retrying in a loop and says why.
 */
describe('two hosts with one node identity', () => {
  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('the copy gets DUPLICATE_NODE within one reconnect; the original stays Online; no replacement loop', async () => {
    const cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 });
    const { key1 } = await cp.createIr('clone-ir');
    const original = makeNode({ OPENIR_VAULT: 'file' }, 'original');
    await original.startHost();
    const registered = await original.cli(['register', '--key-stdin', '--json'], key1);
    expect(registered.code, registered.stderr).toBe(0);
    const nodeId = (registered.json as StatusJson).node?.id;
    await original.kill();

    // The clone: the whole data directory, vault file included, as a restored copy would be.
    const clone = makeNode({ OPENIR_VAULT: 'file' }, 'clone');
    fs.cpSync(original.home, clone.home, {
      recursive: true,
      filter: (source) => !source.startsWith(path.join(original.home, 'run')),
    });

    await original.startHost();
    await original.waitForStatus((s) => s.status === 'Online');
    const startedAt = Date.now();
    await clone.startHost();
    const refused = await clone.waitForStatus((s) => s.lastError?.code === 'DUPLICATE_NODE', 10_000);
    expect(refused.node?.id).toBe(nodeId);
    expect(refused.status).not.toBe('Online');
    expect(refused.lastError?.message).toContain('two hosts share one node identity');
    expect(clone.output()).toContain('Another machine is connected to the control plane as this node');

    // Several heartbeat periods later: the original still speaks for the node, nobody fought.
    await sleep(5000);
    expect((await original.waitForStatus((s) => s.status === 'Online')).node?.id).toBe(nodeId);
    const log = cp.stderr();
    const replacements = log.match(/closed its previous control channel/g) ?? [];
    const refusals = log.match(/Refused a second control channel for node 'original'/g) ?? [];
    expect(replacements.length).toBeLessThan(5);
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    // The copy waits minutes before it tries again, not a loop.
    expect(refusals.length).toBeLessThanOrEqual(2);
    expect(Date.now() - startedAt).toBeGreaterThan(5000);
  });
});
