import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CredentialService } from '../../src/core/credentialService';
import { PeerKey } from '../../src/core/peerSeal';
import type { CredentialView } from '../../src/shared/credentials';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

const CLOCK = new Date('2026-05-01T10:00:00.000Z');

/** A credential service on a real vault and data dir; what it pushes is kept. */
function service() {
  const parts = coreParts('openir-credsvc-');
  const pushed: CredentialView[][] = [];
  const state = { self: null as { irId: string; nodeId: string } | null, reachabilityChanges: 0 };
  const credentials = new CredentialService({
    ...parts,
    dataDir: parts.home,
    clock: () => CLOCK,
    syncLog: parts.logger.child('peer-sync'),
    syncIntervalMs: 60_000,
    self: () => state.self,
    peerKey: () => PeerKey.load(parts.vault),
    nodes: () => [],
    reachabilityChanged: () => state.reachabilityChanges++,
    push: (view) => pushed.push(view.credentials),
  });
  return { ...parts, pushed, state, credentials };
}

const api = (secret: string) =>
  ({
    name: 'api',
    type: 'http',
    baseUrl: 'https://api.corp/',
    headers: { Authorization: secret },
  }) as const;

/** Pushes run after the operation answered (the list is read from disk): wait for the `count`th, bounded. */
async function pushes(s: { pushed: unknown[] }, count: number): Promise<void> {
  await vi.waitFor(() => expect(s.pushed.length).toBeGreaterThanOrEqual(count), {
    timeout: 5000,
    interval: 10,
  });
}

describe('credential service', () => {
  it('pushes credentialsChanged with listCredentials’s answer after a save, a delete and a clear', async () => {
    const s = service();
    const saved = await s.credentials.set(api('Bearer header-secret-1234'));
    expect(saved).toMatchObject({ name: 'api', type: 'http', createdAt: CLOCK.toISOString(), version: 1 });
    await pushes(s, 1);
    expect(s.pushed).toEqual([[saved]]);
    expect(await s.credentials.list()).toEqual({ credentials: [saved] });
    await s.credentials.set({ name: 'files', type: 'localFolder', root: s.home });
    await pushes(s, 2);
    expect(s.pushed.at(-1)?.map((c) => c.name)).toEqual(['api', 'files']);
    await s.credentials.delete({ name: 'api' });
    await pushes(s, 3);
    expect(s.pushed.at(-1)?.map((c) => c.name)).toEqual(['files']);
    await s.credentials.clear();
    await pushes(s, 4);
    expect(s.pushed.at(-1)).toEqual([]);
    expect(s.pushed).toHaveLength(4);
    expect(s.messages()).toEqual(
      expect.arrayContaining(['Data store credential saved.', 'Data store credential deleted.']),
    );
  });

  it('keeps secrets out of files and logs, and hands them to jobs only through resolve', async () => {
    const s = service();
    await s.credentials.set(api('Bearer header-secret-5678'));
    expect(filesContaining(s.home, 'header-secret-5678')).toEqual([]);
    expect(s.redactor.text('sent Bearer header-secret-5678')).not.toContain('header-secret-5678');
    await expect(s.credentials.resolve('api', ['http'])).resolves.toMatchObject({
      headers: { Authorization: 'Bearer header-secret-5678' },
    });
    await expect(s.credentials.resolve('api', ['localFolder'])).rejects.toMatchObject({
      code: 'CREDENTIAL_TYPE_MISMATCH',
    });
  });

  it('a list it cannot read is logged, not pushed', async () => {
    const s = service();
    fs.writeFileSync(path.join(s.home, 'credentials.json'), '{ damaged');
    await s.credentials.publish();
    expect(s.pushed).toEqual([]);
    expect(s.messages()).toContain('The credential list could not be read to tell the UI.');
  });

  it('syncs with nobody while unregistered: reachable, no problem, and refuses peers', async () => {
    const s = service();
    expect(s.credentials.peersReachable).toBe(true);
    expect(s.credentials.peersProblem).toBeNull();
    s.credentials.startSync();
    s.credentials.peersChanged();
    await s.credentials.stopSync();
    expect(s.state.reachabilityChanges).toBe(0);
    await expect(s.credentials.answer({})).rejects.toMatchObject({ code: 'PEER_SYNC_REFUSED' });
  });
});
