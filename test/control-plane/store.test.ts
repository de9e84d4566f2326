import Sqlite from 'better-sqlite3';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAuthKey } from '../../src/shared/authKey';
import type { Clock } from '../../src/control-plane/clock';
import {
  MIGRATIONS,
  currentSchemaVersion,
  migrate,
  type Migration,
} from '../../src/control-plane/migrations';
import { ensureDataDir } from '../../src/control-plane/paths';
import { IrRegistry } from '../../src/control-plane/registry';
import { hashSecret, newSecret, secretMatchesHash } from '../../src/control-plane/secrets';
import { ControlPlaneStore } from '../../src/control-plane/store';

const dirs: string[] = [];
const tempDb = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'openir-cp-store-'));
  dirs.push(dir);
  return path.join(dir, 'control-plane.db');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

class FakeClock implements Clock {
  constructor(public ms: number) {}
  nowMs(): number {
    return this.ms;
  }
}

const CONTEXT = { endpoint: 'https://cp.test:8443', pin: `${'A'.repeat(43)}=` };

describe('migrations', () => {
  it('apply once, and a second run applies nothing', () => {
    const db = new Sqlite(tempDb());
    const all = MIGRATIONS.map((m) => m.version);
    expect(migrate(db, MIGRATIONS, 1)).toEqual(all);
    expect(migrate(db, MIGRATIONS, 2)).toEqual([]);
    expect(currentSchemaVersion(db)).toBe(Math.max(...all));
    const rows = db.prepare('SELECT version, applied_at FROM schema_migrations').all();
    expect(rows).toEqual(all.map((version) => ({ version, applied_at: 1 })));
    db.close();
  });

  it('join approval (8): nodes of an older database stay approved, pinned to the key they reported', () => {
    const db = new Sqlite(tempDb());
    const upTo7 = MIGRATIONS.filter((m) => m.version <= 7);
    migrate(db, upTo7, 1);
    db.exec(`INSERT INTO irs (id, name, created_at) VALUES ('ir', 'old', 1);
             INSERT INTO auth_keys (ir_id, slot, secret_hash, created_at) VALUES ('ir', 'key1', 'h', 1);
             INSERT INTO nodes (id, ir_id, name, fqdn, version, platform, credential_hash, registered_at, peer_key)
             VALUES ('n1', 'ir', 'a', 'a', '0.1', 'linux', 'h', 1, 'KEY-A'), ('n2', 'ir', 'b', 'b', '0.1', 'linux', 'h', 1, NULL);`);
    expect(migrate(db, MIGRATIONS, 2)).toContain(8);
    expect(db.prepare('SELECT id, approval, approved_peer_key FROM nodes ORDER BY id').all()).toEqual([
      { id: 'n1', approval: 'approved', approved_peer_key: 'KEY-A' },
      { id: 'n2', approval: 'approved', approved_peer_key: null },
    ]);
    // Existing IRs get the new default; existing keys neither expire nor are single-use.
    expect(db.prepare('SELECT join_approval FROM irs').get()).toEqual({ join_approval: 'required' });
    expect(db.prepare('SELECT expires_at, single_use, used_at FROM auth_keys').get()).toEqual({
      expires_at: null,
      single_use: 0,
      used_at: null,
    });
    db.close();
  });

  it('apply only the new migration to an existing database, keeping its data', () => {
    const file = tempDb();
    const clock = new FakeClock(1_000);
    const store = ControlPlaneStore.open(file, clock);
    new IrRegistry({ store, clock, heartbeatTimeoutMs: 15_000 }).createIr('prod', 4, CONTEXT);
    store.close();

    const next = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
    const addColumn: Migration = {
      version: next,
      name: 'test: add irs.description',
      up: (db) => db.exec("ALTER TABLE irs ADD COLUMN description TEXT NOT NULL DEFAULT ''"),
    };
    const db = new Sqlite(file);
    expect(migrate(db, [...MIGRATIONS, addColumn], 2_000)).toEqual([next]);
    expect(migrate(db, [...MIGRATIONS, addColumn], 3_000)).toEqual([]);
    expect(db.prepare('SELECT name, description FROM irs').all()).toEqual([
      { name: 'prod', description: '' },
    ]);
    db.close();
  });

  it('roll back a failing migration entirely', () => {
    const db = new Sqlite(tempDb());
    const broken: Migration = {
      version: 1,
      name: 'creates then fails',
      up: (d) => {
        d.exec('CREATE TABLE half (x)');
        throw new Error('boom');
      },
    };
    expect(() => migrate(db, [broken], 1)).toThrow('boom');
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    expect(currentSchemaVersion(db)).toBe(0);
    db.close();
  });

  it('refuse a database written by a newer control plane', () => {
    const file = tempDb();
    const db = new Sqlite(file);
    migrate(db, [...MIGRATIONS, { version: 99, name: 'future', up: () => {} }], 1);
    db.close();
    expect(() => ControlPlaneStore.open(file, new FakeClock(1))).toThrow(/schema version 99/);
  });

  it('open the database in WAL mode, so admin commands work while the server runs', () => {
    const file = tempDb();
    ControlPlaneStore.open(file, new FakeClock(1)).close();
    const db = new Sqlite(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });
});

describe('secrets', () => {
  it('are 256-bit base64url values compared by hash', () => {
    const secret = newSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSecret()).not.toBe(secret);
    const hash = hashSecret(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretMatchesHash(secret, hash)).toBe(true);
    expect(secretMatchesHash(`${secret}x`, hash)).toBe(false);
    expect(secretMatchesHash(secret, 'not-a-hash')).toBe(false);
  });
});

describe('IrRegistry', () => {
  const setup = () => {
    const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
    const store = ControlPlaneStore.open(tempDb(), clock);
    const registry = new IrRegistry({ store, clock, heartbeatTimeoutMs: 15_000 });
    return { clock, store, registry };
  };

  it('creates keys that parse and carry the recorded endpoint and pin', () => {
    const { registry, store } = setup();
    const ir = registry.createIr('Sales EU', 4, CONTEXT);
    for (const raw of [ir.key1, ir.key2]) {
      const key = parseAuthKey(raw);
      expect(key).toMatchObject({
        irId: ir.irId,
        irName: 'Sales EU',
        endpoint: CONTEXT.endpoint,
        pin: CONTEXT.pin,
      });
    }
    expect(parseAuthKey(ir.key1).secret).not.toBe(parseAuthKey(ir.key2).secret);
    expect(() => registry.createIr('sales eu', 4, CONTEXT)).toThrow(
      expect.objectContaining({ code: 'IR_EXISTS' }),
    );
    store.close();
  });

  it('derives node status from connection and heartbeat age (injected clock)', () => {
    const { registry, store, clock } = setup();
    const ir = registry.createIr('prod', 4, CONTEXT);
    const secret = parseAuthKey(ir.key1).secret;
    const node = registry.register({
      irId: ir.irId,
      secret,
      nodeName: 'n1',
      fqdn: 'n1.test',
      version: '1',
      platform: 'linux',
    });
    expect(registry.summaryByName('prod')).toMatchObject({
      status: 'Offline',
      nodes: [{ name: 'n1', status: 'Offline' }],
    });

    store.markConnected(node.nodeId, clock.ms);
    expect(registry.summaryByName('prod').status).toBe('Online');

    store.recordHeartbeat(node.nodeId, { peersReachable: false, runningJobs: 1, jobLimit: 2 }, clock.ms);
    expect(registry.summaryByName('prod')).toMatchObject({
      status: 'Limited',
      nodes: [{ status: 'Limited', runningJobs: 1, jobLimit: 2 }],
    });

    clock.ms += 15_001;
    expect(registry.summaryByName('prod')).toMatchObject({
      status: 'Offline',
      nodes: [{ status: 'Offline' }],
    });
    store.close();
  });

  it('authenticates a node only with its own credential', () => {
    const { registry, store } = setup();
    const ir = registry.createIr('prod', 4, CONTEXT);
    const secret = parseAuthKey(ir.key2).secret;
    const a = registry.register({
      irId: ir.irId,
      secret,
      nodeName: 'a',
      fqdn: 'a',
      version: '1',
      platform: 'linux',
      remoteAccessUrl: 'https://a:8060',
    });
    const b = registry.register({
      irId: ir.irId,
      secret,
      nodeName: 'b',
      fqdn: 'b',
      version: '1',
      platform: 'linux',
      remoteAccessUrl: 'https://b:8060',
    });
    expect(registry.authenticateNode(a.nodeId, a.nodeCredential)?.name).toBe('a');
    expect(registry.authenticateNode(a.nodeId, b.nodeCredential)).toBeNull();
    expect(registry.authenticateNode('no-such-node', a.nodeCredential)).toBeNull();
    store.close();
  });

  it('expires only nodes Offline longer than their IR allows, records why, and frees the slot', () => {
    const { registry, store, clock } = setup();
    const ir = registry.createIr('prod', 1, CONTEXT);
    const other = registry.createIr('test', 4, CONTEXT);
    const node = (irId: string, key: string, nodeName: string) =>
      registry.register({
        irId,
        secret: parseAuthKey(key).secret,
        nodeName,
        fqdn: nodeName,
        version: '1',
        platform: 'linux',
        remoteAccessUrl: `http://${nodeName}:8060`,
      });
    const dead = node(ir.irId, ir.key1, 'dead');
    const kept = node(other.irId, other.key1, 'kept');
    store.markConnected(dead.nodeId, clock.ms);
    store.markDisconnected(dead.nodeId);
    registry.updateExpireOfflineAfter('prod', 30 * 60_000);
    // Off by default: the other IR keeps its never-seen node however long it waits.
    expect(store.findIrByName('test')?.expireOfflineAfterMs).toBeNull();

    clock.ms += 30 * 60_000;
    expect(registry.expireOffline()).toEqual([]);
    expect(() => node(ir.irId, ir.key1, 'new')).toThrow(/already has 1 node/);

    clock.ms += 1_000;
    expect(registry.expireOffline()).toMatchObject([
      { irName: 'prod', nodeName: 'dead', nodeId: dead.nodeId, expireOfflineAfterMs: 30 * 60_000 },
    ]);
    expect(registry.summaryByName('prod').nodes).toEqual([]);
    expect(registry.recentRemovals(ir.irId)).toMatchObject([
      { nodeName: 'dead', reason: 'expired', removedAtMs: clock.ms },
    ]);
    expect(registry.summaryByName('test').nodes.map((n) => n.nodeId)).toEqual([kept.nodeId]);
    expect(node(ir.irId, ir.key1, 'new').nodeName).toBe('new');

    // An Online node is never expired, however long ago it registered.
    registry.updateExpireOfflineAfter('test', 60_000);
    const online = node(other.irId, other.key1, 'online');
    store.markConnected(online.nodeId, clock.ms);
    clock.ms += 2 * 60_000;
    store.recordHeartbeat(online.nodeId, { peersReachable: true, runningJobs: 0, jobLimit: 4 }, clock.ms);
    expect(registry.expireOffline().map((n) => n.nodeName)).toEqual(['kept']);
    // Off again: 'online', silent for an hour now, stays; 'prod' (30m) drops its never-seen node.
    registry.updateExpireOfflineAfter('test', null);
    clock.ms += 60 * 60_000;
    expect(registry.expireOffline().map((n) => `${n.irName}/${n.nodeName}`)).toEqual(['prod/new']);
    store.close();
  });
});

describe.skipIf(process.platform === 'win32')('data folder and database permissions', () => {
  it('an existing folder and database are made owner-only (0700, 0600) when opened', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'openir-cp-perm-'));
    try {
      chmodSync(dir, 0o755);
      const file = path.join(dir, 'control-plane.db');
      writeFileSync(file, '', { mode: 0o644 });
      chmodSync(file, 0o644);
      ensureDataDir(dir);
      const store = ControlPlaneStore.open(file, new FakeClock(1));
      store.close();
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      for (const extra of [`${file}-wal`, `${file}-shm`]) {
        if (existsSync(extra)) expect(statSync(extra).mode & 0o777).toBe(0o600);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a new database is created 0600 under a permissive umask', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'openir-cp-perm-'));
    const old = process.umask(0o022);
    try {
      const file = path.join(dir, 'new.db');
      const store = ControlPlaneStore.open(file, new FakeClock(1));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      store.close();
    } finally {
      process.umask(old);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
