import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialStore, isNewer, SyncEntrySchema } from '../../src/core/jobs/credentialStore';
import { Logger, Redactor } from '../../src/core/logger';
import { open, PEER_SYNC_KEY, PeerKey, seal } from '../../src/core/peerSeal';
import { PeerSync } from '../../src/core/peerSync';
import { RemoteAccessListener } from '../../src/core/remoteAccess';
import { FileVault } from '../../src/core/vault';
import type { IrNodeInfo } from '../../src/shared/controlPlaneApi';
import { OpenIrError } from '../../src/shared/errors';
import { selfSignedByOpenssl } from '../helpers/openssl';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

function nodeStore(origin: string, at: () => Date = () => new Date()) {
  const home = tempDir('openir-sync-');
  const vault = new FileVault(path.join(home, 'vault'));
  return {
    home,
    vault,
    store: new CredentialStore({ dataDir: home, vault, origin: () => origin, clock: at }),
  };
}

const pg = (password: string) =>
  ({
    name: 'sales-db',
    type: 'postgresql',
    host: 'db.corp',
    port: 5432,
    database: 'sales',
    user: 'reader',
    ssl: false,
    password,
  }) as const;

describe('peer keys and sealed messages', () => {
  it('two nodes derive the same key; a third cannot read, and tampering or replay is refused', async () => {
    const a = await PeerKey.load(nodeStore('a').vault);
    const b = await PeerKey.load(nodeStore('b').vault);
    const c = await PeerKey.load(nodeStore('c').vault);
    const ab = a.sharedKey(b.publicKey, 'ir-1', 'node-a', 'node-b');
    expect(b.sharedKey(a.publicKey, 'ir-1', 'node-b', 'node-a').equals(ab)).toBe(true);
    // Bound to the IR and the pair: the same keys in another IR or pair give another key.
    expect(a.sharedKey(b.publicKey, 'ir-2', 'node-a', 'node-b').equals(ab)).toBe(false);
    expect(c.sharedKey(a.publicKey, 'ir-1', 'node-b', 'node-a').equals(ab)).toBe(false);

    const now = Date.now();
    const message = seal(ab, { from: 'node-a', to: 'node-b', at: now }, { secret: 'hunter2' });
    expect(JSON.stringify(message)).not.toContain('hunter2');
    expect(open(ab, message, now + 1000)).toEqual({ secret: 'hunter2' });

    const refusedWith = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as OpenIrError).code;
      }
      return 'opened';
    };
    expect(refusedWith(() => open(c.sharedKey(b.publicKey, 'ir-1', 'node-a', 'node-b'), message, now))).toBe(
      'PEER_SYNC_REFUSED',
    );
    // Reflected back to its sender: the direction is authenticated.
    expect(refusedWith(() => open(ab, { ...message, from: 'node-b', to: 'node-a' }, now))).toBe(
      'PEER_SYNC_REFUSED',
    );
    const flipped = Buffer.from(message.data, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(refusedWith(() => open(ab, { ...message, data: flipped.toString('base64') }, now))).toBe(
      'PEER_SYNC_REFUSED',
    );
    expect(refusedWith(() => open(ab, message, now + 10 * 60_000))).toBe('PEER_SYNC_REFUSED');
  });

  it('keeps the private key in the vault and loads the same key again', async () => {
    const { vault } = nodeStore('a');
    const first = await PeerKey.load(vault);
    expect(await vault.get(PEER_SYNC_KEY)).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect((await PeerKey.load(vault)).publicKey).toBe(first.publicKey);
  });
});

describe('credential versions', () => {
  it("a set on one node reaches another with its secret, re-encrypted by that node's vault", async () => {
    const one = nodeStore('node-1');
    const two = nodeStore('node-2');
    await one.store.set(pg('first'));
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual(['sales-db']);
    expect(await two.store.resolve('sales-db', ['postgresql'])).toMatchObject({ password: 'first' });
    expect(fs.readFileSync(path.join(two.home, 'credentials.json'), 'utf8')).not.toContain('first');
    // Nothing newer: merging again changes nothing.
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual([]);
  });

  it('the higher version wins, whichever node it comes from, and a deletion does not come back', async () => {
    const one = nodeStore('node-1');
    const two = nodeStore('node-2');
    await one.store.set(pg('v1'));
    await two.store.merge((await one.store.offer([])).entries);
    const v2 = await two.store.set(pg('v2'));
    expect(v2.version).toBe(2);
    // node-1 still has v1: the older entry from it must not overwrite v2 on node-2.
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual([]);
    expect(await one.store.merge((await two.store.offer([])).entries)).toEqual(['sales-db']);
    expect(await one.store.resolve('sales-db', ['postgresql'])).toMatchObject({ password: 'v2' });

    await one.store.delete('sales-db');
    const stale = (await two.store.offer([])).entries;
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual(['sales-db']);
    expect(await two.store.list()).toEqual([]);
    expect(await two.vault.get('data-store-credential:sales-db')).toBeNull();
    // node-2's copy from before the deletion arrives late: the tombstone's version is higher.
    expect(await one.store.merge(stale)).toEqual([]);
    expect(await one.store.list()).toEqual([]);
    // Set again after the deletion: a version above the tombstone, so peers accept it.
    expect((await one.store.set(pg('v4'))).version).toBe(4);
  });

  it('equal versions made on two nodes at once resolve the same way on both', () => {
    const a = { version: 3, updatedAt: '2026-11-28T05:00:00.000Z', origin: 'node-a' };
    const b = { version: 3, updatedAt: '2026-11-28T05:00:00.000Z', origin: 'node-b' };
    expect(isNewer(b, a)).toBe(true);
    expect(isNewer(a, b)).toBe(false);
    expect(isNewer({ ...a, updatedAt: '2026-11-28T05:00:01.000Z' }, b)).toBe(true);
    expect(isNewer({ ...a, version: 4 }, { ...b, updatedAt: '2099-01-01T00:00:00.000Z' })).toBe(true);
  });
});

describe('PeerSync between two listeners (real HTTP/TLS on loopback)', () => {
  const IR = 'ir-sync';
  const running: { stop(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const r of running.splice(0)) await r.stop();
  });

  /** One node: its store, key, remote-access listener (plain or TLS) and sync service. */
  async function peer(nodeId: string, tls?: { certPem: string; keyPem: string }) {
    const { store, vault } = nodeStore(nodeId);
    const key = await PeerKey.load(vault);
    // Counts the secrets read from the vault (the real file vault underneath).
    const reads = { count: 0 };
    const get = vault.get.bind(vault);
    vault.get = (name: string) => {
      if (name.startsWith('data-store-credential:')) reads.count += 1;
      return get(name);
    };
    const logger = new Logger({ file: null, level: 'debug', redactor: new Redactor() });
    const nodes: IrNodeInfo[] = [];
    const sync = new PeerSync({
      credentials: store,
      self: () => ({ irId: IR, nodeId }),
      key: async () => key,
      nodes: () => nodes,
      log: logger.child('peer-sync'),
      intervalMs: 60_000,
      timeoutMs: 400,
      onReachability: () => undefined,
      onMerged: () => undefined,
    });
    const listener = new RemoteAccessListener({
      bindHost: '127.0.0.1',
      health: () => ({}),
      encrypt: async (v) => v,
      peerSync: (body) => sync.answer(body),
      log: logger.child('remote-access'),
    });
    await listener.start(
      tls ? { mode: 'tls', port: 0, thumbprint: 'x' } : { mode: 'plain', port: 0 },
      tls ?? null,
    );
    running.push(listener, sync);
    const info = (): IrNodeInfo => ({
      nodeId,
      name: nodeId,
      fqdn: `${nodeId}.test`,
      version: '0.1.0',
      status: 'Online',
      registeredAt: new Date().toISOString(),
      lastSeenAt: null,
      runningJobs: 0,
      jobLimit: 1,
      remoteAccessUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${listener.port}`,
      remoteAccessCertSha256: listener.certSha256,
      peerKey: key.publicKey,
      approval: 'approved',
      approvedPeerKey: null,
      syncKeyFingerprint: null,
    });
    return { store, sync, nodes, info, logger, reads };
  }

  it('a round exchanges both ways over TLS with the pinned certificate', async () => {
    const dir = tempDir('openir-sync-tls-');
    const fixture = selfSignedByOpenssl(dir, 'b.test', 'DNS:b.test');
    const tls = {
      certPem: fs.readFileSync(fixture.cert, 'utf8'),
      keyPem: fs.readFileSync(fixture.key, 'utf8'),
    };
    const a = await peer('node-a');
    const b = await peer('node-b', tls);
    a.nodes.push(a.info(), b.info());
    b.nodes.push(a.info(), b.info());
    await a.store.set(pg('from-a'));
    await b.store.set({ name: 'files', type: 'localFolder', root: '/srv/files' });
    await a.sync.syncNow('test');
    expect(a.sync.peersReachable).toBe(true);
    expect((await a.store.list()).map((c) => c.name)).toEqual(['files', 'sales-db']);
    expect(await b.store.resolve('sales-db', ['postgresql'])).toMatchObject({ password: 'from-a' });
    // In step, a round exchanges versions only: no secret is read on either side.
    const before = a.reads.count + b.reads.count;
    await a.sync.syncNow('again');
    await b.sync.syncNow('again');
    expect(a.reads.count + b.reads.count).toBe(before);
  });

  it('a peer whose certificate is not the one it reported is not sent anything: Limited, with why', async () => {
    const dir = tempDir('openir-sync-pin-');
    const fixture = selfSignedByOpenssl(dir, 'c.test', 'DNS:c.test');
    const tls = {
      certPem: fs.readFileSync(fixture.cert, 'utf8'),
      keyPem: fs.readFileSync(fixture.key, 'utf8'),
    };
    const a = await peer('node-a2');
    const c = await peer('node-c', tls);
    const forged = {
      ...c.info(),
      remoteAccessCertSha256: new X509Certificate(tls.certPem).fingerprint256.replace(/^../, '00'),
    };
    a.nodes.push(a.info(), forged);
    c.nodes.push(a.info(), c.info());
    await a.store.set(pg('never-sent'));
    await a.sync.syncNow('test');
    expect(a.sync.peersReachable).toBe(false);
    expect(a.sync.problem?.code).toBe('PEERS_UNREACHABLE');
    expect(a.sync.problem?.message).toMatch(/presented a certificate .* other than the one it reported/);
    expect(await c.store.list()).toEqual([]);
  });

  it('a peer that accepts the connection and never answers does not hold up the round', async () => {
    const hung = net.createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    running.push({ stop: async () => void hung.close() });
    const a = await peer('node-a3');
    const port = (hung.address() as net.AddressInfo).port;
    for (const scheme of ['http', 'https'] as const) {
      a.nodes.splice(0, a.nodes.length, a.info(), {
        ...a.info(),
        nodeId: `hung-${scheme}`,
        name: `hung-${scheme}`,
        remoteAccessUrl: `${scheme}://127.0.0.1:${port}`,
        remoteAccessCertSha256: scheme === 'https' ? 'AB:'.repeat(31) + 'AB' : null,
      });
      const started = Date.now();
      await a.sync.syncNow('test');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(a.sync.peersReachable).toBe(false);
    }
  });

  it('refuses a sender the control plane does not list, and a message for another node', async () => {
    const a = await peer('node-a4');
    const b = await peer('node-b4');
    b.nodes.push(b.info()); // b does not know a
    a.nodes.push(a.info(), b.info());
    await a.sync.syncNow('test');
    expect(a.sync.peersReachable).toBe(false);
    expect(a.sync.problem?.message).toMatch(/not an approved Online node of this integration runtime/);
    await expect(
      b.sync.answer({ v: 1, from: 'node-a4', to: 'someone-else', at: Date.now(), iv: '', tag: '', data: '' }),
    ).rejects.toMatchObject({
      code: 'PEER_SYNC_REFUSED',
    });
  });

  it('never syncs with a pending peer, either way; a peer whose key is not the approved one is refused', async () => {
    const a = await peer('node-a5');
    const b = await peer('node-b5');
    await a.store.set(pg('approved-only'));
    // b waits for approval: a lists it as pending, b (told only about itself) knows no peer.
    a.nodes.push(a.info(), { ...b.info(), approval: 'pending' });
    b.nodes.push({ ...b.info(), approval: 'pending' });
    await a.sync.syncNow('test');
    await b.sync.syncNow('test');
    expect(await b.store.manifest()).toEqual([]);
    expect(a.sync.peersReachable).toBe(true);
    // Even told about a, a pending b syncs with no one (defence in depth beyond the control plane).
    b.nodes.push(a.info());
    await b.sync.syncNow('test');
    expect(await b.store.manifest()).toEqual([]);

    // Approved, but b now reports another key than the one pinned at its approval.
    const other = await PeerKey.load(new FileVault(tempDir('openir-vault-')));
    a.nodes.splice(0, a.nodes.length, a.info(), { ...b.info(), approvedPeerKey: other.publicKey });
    b.nodes.splice(0, b.nodes.length, b.info(), a.info());
    await a.sync.syncNow('test');
    expect(a.sync.peersReachable).toBe(false);
    expect(a.sync.problem).toMatchObject({ code: 'PEER_KEY_CHANGED' });
    expect(a.sync.problem?.message).toMatch(
      /'node-b5': its sync key changed to SHA256:\S+ without a new approval/,
    );
    await b.sync.syncNow('test');
    expect(b.sync.problem?.message).toMatch(/HTTP 403.*sync key changed/);
    expect(await b.store.manifest()).toEqual([]);

    // Approved with the key it reports: the credential flows.
    a.nodes.splice(0, a.nodes.length, a.info(), { ...b.info(), approvedPeerKey: b.info().peerKey });
    await b.sync.syncNow('test');
    expect((await b.store.manifest()).map((e) => e.name)).toEqual(['sales-db']);
  });

  it('skips a synced credential this node would not accept, and says so', async () => {
    const { store } = nodeStore('node-x');
    const rejected: string[] = [];
    const strict = new CredentialStore({
      dataDir: tempDir('openir-sync-'),
      vault: new FileVault(tempDir('openir-vault-')),
      onRejected: (name) => rejected.push(name),
    });
    await store.set(pg('x'));
    const [entry] = (await store.offer([])).entries;
    const bad = {
      ...entry!,
      version: 7,
      record: { ...entry!.record!, fields: { ...entry!.record!.fields, port: 99999 } },
    };
    expect(await strict.merge([bad])).toEqual([]);
    expect(rejected).toEqual(['sales-db']);
    expect(SyncEntrySchema.safeParse({ ...entry, version: 2 ** 40 }).success).toBe(false);
    expect(SyncEntrySchema.safeParse({ ...entry, name: '../x y' }).success).toBe(false);
  });
});
