import {
  createCipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialStore, isNewer, SyncEntrySchema } from '../../src/core/jobs/credentialStore';
import { Logger, Redactor } from '../../src/core/logger';
import {
  MAX_CLOCK_SKEW_MS,
  parseSealedMessage,
  PEER_SYNC_KEY,
  PeerKey,
  ReplayGuard,
  type SealContext,
  type SealedMessage,
  type SealPurpose,
} from '../../src/core/peerSeal';
import { PeerSync } from '../../src/core/peerSync';
import { RemoteAccessListener } from '../../src/core/remoteAccess';
import { formatSealHeader, PEER_SEAL_HEADER } from '../../src/core/remoteAccessSealHeader';
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

describe('peer keys and sealed messages (HPKE, RFC 9180)', () => {
  const refusal = async (promise: Promise<unknown>) =>
    promise.then(
      () => 'opened',
      (error: unknown) => `${(error as OpenIrError).code}: ${(error as Error).message}`,
    );
  const ctx = (from: string, to: string, purpose: SealPurpose = 'sync-request', irId = 'ir-1') => ({
    irId,
    from,
    to,
    purpose,
  });

  it('round trip; a third node, a tampered byte, another context, a stale time and a replay are refused', async () => {
    const a = await PeerKey.load(nodeStore('a').vault);
    const b = await PeerKey.load(nodeStore('b').vault);
    const c = await PeerKey.load(nodeStore('c').vault);
    const now = Date.now();
    const message = await a.seal(b.publicKey, ctx('node-a', 'node-b'), now, { secret: 'hunter2' });
    expect(message).toMatchObject({ v: 2, from: 'node-a', to: 'node-b', at: now });
    expect(JSON.stringify(message)).not.toContain('hunter2');
    // Each message has its own ephemeral key (HPKE's enc), so the same payload never seals the same way.
    const again = await a.seal(b.publicKey, ctx('node-a', 'node-b'), now, { secret: 'hunter2' });
    expect(again.enc).not.toBe(message.enc);
    expect(again.data).not.toBe(message.data);

    const open = (
      m: SealedMessage,
      opts: { by?: PeerKey; sender?: string; context?: SealContext; at?: number; guard?: ReplayGuard } = {},
    ) =>
      (opts.by ?? b).open(
        opts.sender ?? a.publicKey,
        opts.context ?? ctx('node-a', 'node-b'),
        m,
        opts.at ?? now + 1000,
        opts.guard ?? new ReplayGuard(),
      );
    expect(await open(message)).toEqual({ secret: 'hunter2' });

    // Wrong recipient: c cannot open what was sealed for b, even claiming to be b.
    expect(await refusal(open(message, { by: c }))).toMatch(/^PEER_SYNC_REFUSED: .*did not decrypt/);
    // Wrong sender: c seals for b in a's name (auth mode: b checks it against a's listed key).
    const forged = await c.seal(b.publicKey, ctx('node-a', 'node-b'), now, { secret: 'forged' });
    expect(await refusal(open(forged))).toMatch(/^PEER_SYNC_REFUSED: .*did not decrypt/);
    // Tampered ciphertext, enc, and authenticated header (aad).
    const flipped = Buffer.from(message.data, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(await refusal(open({ ...message, data: flipped.toString('base64') }))).toMatch(/did not decrypt/);
    const enc = Buffer.from(message.enc, 'base64');
    enc[5] = (enc[5] ?? 0) ^ 1;
    expect(await refusal(open({ ...message, enc: enc.toString('base64') }))).toMatch(/did not decrypt/);
    expect(await refusal(open({ ...message, at: now + 1 }))).toMatch(/did not decrypt/);
    // Another context (HPKE info): IR, direction, purpose.
    expect(
      await refusal(open(message, { context: ctx('node-a', 'node-b', 'sync-request', 'ir-2') })),
    ).toMatch(/did not decrypt/);
    expect(await refusal(open(message, { context: ctx('node-a', 'node-b', 'sync-reply') }))).toMatch(
      /did not decrypt/,
    );
    // Reflected back to its sender: the header and the context disagree, or the key does.
    expect(
      await refusal(open({ ...message, from: 'node-b', to: 'node-a' }, { context: ctx('node-b', 'node-a') })),
    ).toMatch(/did not decrypt/);
    expect(await refusal(open(message, { context: ctx('node-c', 'node-b') }))).toMatch(/another node/);
    // Stale: outside the clock window.
    expect(await refusal(open(message, { at: now + 10 * 60_000 }))).toMatch(/clocks differ/);
    // Replay inside the window: the second copy is refused, also when both arrive at once.
    const guard = new ReplayGuard();
    expect(await open(message, { guard })).toEqual({ secret: 'hunter2' });
    expect(await refusal(open(message, { guard }))).toMatch(/^PEER_SYNC_REFUSED: .*replay/);
    const results = await Promise.all([1, 2, 3].map(() => refusal(open(again, { guard }))));
    expect(results.filter((r) => r === 'opened')).toHaveLength(1);
    // A message that failed to open takes no room: only authenticated messages are recorded.
    expect(guard.size).toBe(2);
  });

  it('the replay guard is bounded and refuses what it can no longer tell apart', () => {
    const now = 1_000_000_000;
    const guard = new ReplayGuard(3);
    expect(guard.admit('e1', now - 4, now)).toBe(true);
    expect(guard.admit('e2', now - 3, now)).toBe(true);
    expect(guard.admit('e3', now - 2, now)).toBe(true);
    expect(guard.admit('e2', now - 3, now)).toBe(false);
    // Full: the oldest entry (e1) goes, and with it everything sent at or before its time.
    expect(guard.admit('e4', now - 1, now)).toBe(true);
    expect(guard.size).toBe(3);
    expect(guard.admit('e1', now - 4, now)).toBe(false);
    expect(guard.admit('e5', now - 5, now)).toBe(false);
    // Entries older than the window are dropped first, without raising the floor.
    const later = now + MAX_CLOCK_SKEW_MS + 10;
    expect(guard.admit('e6', later, later)).toBe(true);
    expect(guard.size).toBe(1);
    expect(guard.admit('e7', now, later)).toBe(true);
  });

  it('keeps the private key in the vault and loads the same key again', async () => {
    const { vault } = nodeStore('a');
    const first = await PeerKey.load(vault);
    expect(await vault.get(PEER_SYNC_KEY)).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    expect((await PeerKey.load(vault)).publicKey).toBe(first.publicKey);
  });

  it('a key stored by the previous version (X25519 PKCS#8 in the vault) keeps working, with the same public key', async () => {
    const { vault } = nodeStore('old');
    // Exactly what OpenIR 0.1 stored, and the SPKI it published to the control plane.
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    await vault.set(PEER_SYNC_KEY, privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'));
    const published = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const old = await PeerKey.load(vault);
    expect(old.publicKey).toBe(published);
    const b = await PeerKey.load(nodeStore('b').vault);
    const now = Date.now();
    const message = await old.seal(b.publicKey, ctx('old', 'node-b'), now, ['x']);
    expect(await b.open(published, ctx('old', 'node-b'), message, now, new ReplayGuard())).toEqual(['x']);
    const back = await b.seal(published, ctx('node-b', 'old', 'sync-reply'), now, ['y']);
    expect(
      await old.open(b.publicKey, ctx('node-b', 'old', 'sync-reply'), back, now, new ReplayGuard()),
    ).toEqual(['y']);
  });

  it("a message in the previous version's format is refused with PEER_SYNC_OUTDATED", () => {
    const b = generateKeyPairSync('x25519');
    const a = generateKeyPairSync('x25519');
    const legacy = legacySeal(
      a.privateKey,
      b.publicKey,
      { from: 'node-a', to: 'node-b', at: Date.now() },
      {},
    );
    expect(() => parseSealedMessage(legacy)).toThrow(
      expect.objectContaining({
        code: 'PEER_SYNC_OUTDATED',
        fix: expect.stringMatching(/same OpenIR version/),
      }),
    );
    expect(parseSealedMessage({ v: 3, from: 'a', to: 'b' })).toBeNull();
    expect(parseSealedMessage('garbage')).toBeNull();
  });
});

/**
 * The sealing of OpenIR 0.1 (X25519 + HKDF + AES-256-GCM), as its nodes still
 * send it: kept here only to prove such messages are refused clearly.
 */
function legacySeal(
  privateKey: KeyObject,
  peerPublicKey: KeyObject,
  header: { from: string; to: string; at: number },
  payload: unknown,
) {
  const secret = diffieHellman({ privateKey, publicKey: peerPublicKey });
  const [first, second] = [header.from, header.to].sort();
  const key = Buffer.from(
    hkdfSync('sha256', secret, Buffer.from(IR_LEGACY), `openir peer sync v1 ${first} ${second}`, 32),
  );
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const message = { v: 1 as const, ...header };
  cipher.setAAD(Buffer.from(`${message.v}|${message.from}>${message.to}|${message.at}`));
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  return {
    ...message,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}
const IR_LEGACY = 'ir-sync';

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
    return { store, sync, nodes, info, logger, reads, key, port: () => listener.port as number };
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
      b.sync.answer({
        v: 2,
        from: 'node-a4',
        to: 'someone-else',
        at: Date.now(),
        enc: 'A'.repeat(43) + '=',
        data: '',
      }),
    ).rejects.toMatchObject({
      code: 'PEER_SYNC_REFUSED',
    });
  });

  it('a request replayed to the listener is refused, and its entries are applied once', async () => {
    const a = await peer('node-a5');
    const b = await peer('node-b5');
    a.nodes.push(a.info(), b.info());
    b.nodes.push(a.info(), b.info());
    await a.store.set(pg('once'));
    const request = await a.key.seal(
      b.key.publicKey,
      { irId: IR, from: 'node-a5', to: 'node-b5', purpose: 'sync-request' },
      Date.now(),
      { manifest: [], entries: (await a.store.offer([])).entries },
    );
    const post = () =>
      fetch(`http://127.0.0.1:${b.port()}/openir/v1/peers/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [PEER_SEAL_HEADER]: formatSealHeader(request) },
        body: JSON.stringify(request),
      });
    const first = await post();
    expect(first.status).toBe(200);
    expect(await b.store.resolve('sales-db', ['postgresql'])).toMatchObject({ password: 'once' });
    const replayed = await post();
    expect(replayed.status).toBe(403);
    expect(await replayed.json()).toMatchObject({
      error: { code: 'PEER_SYNC_REFUSED', message: expect.stringMatching(/replay/) },
    });
    // A reply of b's passed off as a request to b: another purpose, refused.
    const reply = (await first.json()) as SealedMessage;
    const passedOff = { ...reply, from: 'node-a5', to: 'node-b5' };
    const reflected = await fetch(`http://127.0.0.1:${b.port()}/openir/v1/peers/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PEER_SEAL_HEADER]: formatSealHeader(passedOff) },
      body: JSON.stringify(passedOff),
    });
    expect(reflected.status).toBe(403);
  });

  it('a node of the previous version is refused with PEER_SYNC_OUTDATED both ways, naming the versions', async () => {
    const b = await peer('node-b6');
    const old = generateKeyPairSync('x25519');
    const oldInfo: IrNodeInfo = {
      ...b.info(),
      nodeId: 'node-old',
      name: 'node-old',
      version: '0.0.9',
      peerKey: old.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    };
    b.nodes.push(b.info(), oldInfo);
    // Old → new: what a 0.1 node posts. It shows the answer's message, so that says what to do.
    const legacy = legacySeal(
      old.privateKey,
      createPublicKey({ key: Buffer.from(b.key.publicKey, 'base64'), format: 'der', type: 'spki' }),
      { from: 'node-old', to: 'node-b6', at: Date.now() },
      { manifest: [], entries: [] },
    );
    const answer = await fetch(`http://127.0.0.1:${b.port()}/openir/v1/peers/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(legacy),
    });
    expect(answer.status).toBe(409);
    expect(await answer.json()).toMatchObject({
      error: { code: 'PEER_SYNC_OUTDATED', message: expect.stringMatching(/HPKE/) },
    });
    // New → old: a 0.1 node answers an HPKE message as it answers anything it cannot parse.
    const oldListener = http.createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'PEER_SYNC_REFUSED', message: 'This sync request is not addressed to this node.' },
        }),
      );
    });
    await new Promise<void>((resolve) => oldListener.listen(0, '127.0.0.1', resolve));
    running.push({ stop: async () => void oldListener.close() });
    b.nodes.splice(1, 1, {
      ...oldInfo,
      remoteAccessUrl: `http://127.0.0.1:${(oldListener.address() as net.AddressInfo).port}`,
    });
    await b.sync.syncNow('test');
    expect(b.sync.peersReachable).toBe(false);
    expect(b.sync.problem?.message).toMatch(/the peer runs OpenIR 0\.0\.9, this node \S+; update both/);
  });

  it('never syncs with a pending peer, either way; a peer whose key is not the approved one is refused', async () => {
    const a = await peer('node-a7');
    const b = await peer('node-b7');
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
      /'node-b7': its sync key changed to SHA256:\S+ without a new approval/,
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
