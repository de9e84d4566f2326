import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKUP_FORMAT_VERSION,
  DEFAULT_SCRYPT,
  openBackup,
  parseBackup,
  sealBackup,
  type BackupIdentity,
} from '../../src/core/backup/format';
import { FIXED_BACKUP_VAULT_ENTRIES, REGISTRATION_BOUND_VAULT_ENTRIES } from '../../src/core/backup/entries';
import { BackupService } from '../../src/core/backup/service';
import { CertificateStore } from '../../src/core/certificates';
import { ConfigStore, type Registration } from '../../src/core/config';
import { CredentialCipher } from '../../src/core/credentialCipher';
import { NODE_CREDENTIAL } from '../../src/core/controlPlaneClient';
import { CredentialStore, vaultEntryFor } from '../../src/core/jobs/credentialStore';
import { Logger, Redactor } from '../../src/core/logger';
import { PROXY_PASSWORD } from '../../src/core/proxyService';
import { FileVault, type SecretVault } from '../../src/core/vault';
import { OpenIrError } from '../../src/shared/errors';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

/** Cheap key derivation for the many format cases; the default (strong) one is tested once. */
const FAST = { N: 2 ** 12, r: 8, p: 1 };
const PASSWORD = 'correct horse battery staple';
const IDENTITY: BackupIdentity = {
  productVersion: '0.1.0',
  createdAt: '2026-11-28T05:00:00.000Z',
  node: { id: 'node-id-1', name: 'node1', fqdn: 'node1.openir.test' },
  ir: { id: 'ir-id-1', name: 'sales-ir' },
  controlPlane: 'https://127.0.0.1:8443',
};
const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('backup');

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(OpenIrError);
    return (error as OpenIrError).code;
  }
  return 'NO_ERROR';
}

/** The file with its trailing checksum recomputed, as a deliberate tamperer would. */
function resummed(file: Buffer): Buffer {
  const body = file.subarray(0, file.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function headerRange(file: Buffer): { start: number; end: number } {
  const length = file.readUInt32BE(10);
  return { start: 14, end: 14 + length };
}

describe('backup file format', () => {
  it('round-trips with the default (strong) scrypt parameters and records them in the header', async () => {
    const payload = Buffer.from('{"secret":"s3cr3t-value"}');
    const file = await sealBackup(payload, IDENTITY, PASSWORD);
    const parsed = parseBackup(file);
    expect(parsed.header.kdf).toMatchObject({ name: 'scrypt', ...DEFAULT_SCRYPT });
    expect(DEFAULT_SCRYPT.N).toBeGreaterThanOrEqual(2 ** 17);
    expect(parsed.info).toEqual({ formatVersion: BACKUP_FORMAT_VERSION, ...IDENTITY });
    expect(file.includes(Buffer.from('s3cr3t-value'))).toBe(false);
    const opened = await openBackup(file, PASSWORD);
    expect(opened.payload.toString()).toBe(payload.toString());
  });

  it('says BACKUP_WRONG_PASSWORD for a wrong password', async () => {
    const file = await sealBackup(Buffer.from('x'), IDENTITY, PASSWORD, FAST);
    expect(await codeOf(openBackup(file, 'wrong password'))).toBe('BACKUP_WRONG_PASSWORD');
    expect(await codeOf(openBackup(file, PASSWORD.toUpperCase()))).toBe('BACKUP_WRONG_PASSWORD');
  });

  it('says BACKUP_CORRUPT for a flipped byte in the header, with or without a recomputed checksum', async () => {
    const file = await sealBackup(Buffer.from('payload'), IDENTITY, PASSWORD, FAST);
    const { start, end } = headerRange(file);
    const at = file.indexOf(Buffer.from('sales-ir'), start);
    expect(at).toBeGreaterThan(start);
    expect(at).toBeLessThan(end);
    const flipped = Buffer.from(file);
    flipped[at] = 'S'.charCodeAt(0);
    expect(await codeOf(openBackup(flipped, PASSWORD))).toBe('BACKUP_CORRUPT');
    // A tamperer who fixes the checksum still fails authentication (the header is the AAD).
    expect(await codeOf(openBackup(resummed(flipped), PASSWORD))).toBe('BACKUP_CORRUPT');
  });

  it('says BACKUP_CORRUPT for a flipped byte in the ciphertext or tag', async () => {
    const file = await sealBackup(Buffer.from('payload payload payload'), IDENTITY, PASSWORD, FAST);
    const { end } = headerRange(file);
    for (const at of [end + 2, file.length - 33]) {
      const flipped = Buffer.from(file);
      flipped[at] = (flipped[at] as number) ^ 0x01;
      expect(await codeOf(openBackup(flipped, PASSWORD))).toBe('BACKUP_CORRUPT');
      expect(await codeOf(openBackup(resummed(flipped), PASSWORD))).toBe('BACKUP_CORRUPT');
    }
  });

  it('reads a deliberately altered salt as a wrong password (documented: they cannot be told apart)', async () => {
    const file = await sealBackup(Buffer.from('payload'), IDENTITY, PASSWORD, FAST);
    const header = JSON.parse(file.subarray(14, headerRange(file).end).toString()) as {
      kdf: { salt: string };
    };
    const salt = Buffer.from(header.kdf.salt, 'base64');
    salt[0] = (salt[0] as number) ^ 0xff;
    const altered = Buffer.from(
      file.toString('latin1').replace(header.kdf.salt, salt.toString('base64')),
      'latin1',
    );
    expect(await codeOf(openBackup(altered, PASSWORD))).toBe('BACKUP_CORRUPT');
    expect(await codeOf(openBackup(resummed(altered), PASSWORD))).toBe('BACKUP_WRONG_PASSWORD');
  });

  it('says BACKUP_CORRUPT for a truncated file, an empty file and a file that is not a backup', async () => {
    const file = await sealBackup(Buffer.from('payload'), IDENTITY, PASSWORD, FAST);
    for (const length of [file.length - 1, file.length - 40, 20, 12, 9, 3, 0]) {
      expect(await codeOf(openBackup(file.subarray(0, length), PASSWORD))).toBe('BACKUP_CORRUPT');
    }
    expect(await codeOf(openBackup(Buffer.from('{"not":"a backup"}'), PASSWORD))).toBe('BACKUP_CORRUPT');
  });

  it('says BACKUP_UNSUPPORTED_VERSION for a format version it does not know', async () => {
    const file = await sealBackup(Buffer.from('payload'), IDENTITY, PASSWORD, FAST);
    const future = Buffer.from(file);
    future.writeUInt16BE(BACKUP_FORMAT_VERSION + 1, 8);
    expect(await codeOf(openBackup(resummed(future), PASSWORD))).toBe('BACKUP_UNSUPPORTED_VERSION');
    expect(await codeOf(() => parseBackup(future))).toBe('BACKUP_UNSUPPORTED_VERSION');
  });

  it('refuses KDF parameters that would make the host allocate gigabytes, before deriving', async () => {
    const file = await sealBackup(Buffer.from('payload'), IDENTITY, PASSWORD, FAST);
    const text = file.toString('latin1').replace(`"N":${FAST.N},"r":8`, `"N":${2 ** 20},"r":32`);
    const crafted = Buffer.from(text, 'latin1');
    // The header grew: fix its length field, then the checksum.
    crafted.writeUInt32BE(file.readUInt32BE(10) + (crafted.length - file.length), 10);
    expect(await codeOf(openBackup(resummed(crafted), PASSWORD))).toBe('BACKUP_CORRUPT');
  });
});

describe('the vault entries a backup carries', () => {
  it('names the fixed entries as their owners do, in one list with the peer-sync key', async () => {
    expect(FIXED_BACKUP_VAULT_ENTRIES).toContain(NODE_CREDENTIAL);
    expect(FIXED_BACKUP_VAULT_ENTRIES).toContain(PROXY_PASSWORD);
    expect(FIXED_BACKUP_VAULT_ENTRIES).toContain('peer-sync-key');
    const vault = new FileVault(tempDir());
    await new CredentialCipher(vault).encrypt('x');
    expect(await vault.get('credential-encryption-key')).not.toBeNull();
    for (const name of REGISTRATION_BOUND_VAULT_ENTRIES) expect(FIXED_BACKUP_VAULT_ENTRIES).toContain(name);
  });
});

const REGISTRATION: Registration = {
  irId: 'ir-id-1',
  irName: 'sales-ir',
  nodeId: 'node-id-1',
  nodeName: 'node1',
  fqdn: 'node1.openir.test',
  endpoint: 'https://127.0.0.1:8443',
  pin: 'pin',
  controlPlaneCaPem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----',
  registeredAt: '2026-11-28T05:00:00.000Z',
  heartbeatIntervalMs: 5000,
  heartbeatTimeoutMs: 15000,
};

interface Home {
  dir: string;
  config: ConfigStore;
  vault: SecretVault;
  backups: BackupService;
}

function home(vault?: (dir: string) => SecretVault): Home {
  const dir = tempDir('openir-backup-');
  const config = new ConfigStore(path.join(dir, 'config.json'));
  const v = vault ? vault(dir) : new FileVault(path.join(dir, 'vault'));
  const backups = new BackupService({ dataDir: dir, config, vault: v, version: '0.1.0', log, scrypt: FAST });
  return { dir, config, vault: v, backups };
}

/** A registered node with a proxy password, a data store credential and a certificate with its key. */
async function populated(): Promise<Home & { thumbprint: string }> {
  const h = home();
  await h.config.update((draft) => {
    draft.vaultBackend = 'encrypted-file';
    draft.registration = REGISTRATION;
    draft.proxy = { mode: 'custom', address: 'proxy.test', port: 3128, user: 'alice' };
    draft.jobs = { allowedFolders: ['/srv/data'], concurrentJobsLimit: 3 };
  });
  await h.vault.set(NODE_CREDENTIAL, 'node-credential-secret-value-0123456789abcdef');
  await h.vault.set(PROXY_PASSWORD, 'proxy-password-secret');
  await new CredentialStore({ dataDir: h.dir, vault: h.vault }).set({
    name: 'warehouse',
    type: 'postgresql',
    host: 'db.test',
    port: 5432,
    database: 'sales',
    user: 'reader',
    ssl: false,
    password: 'pg-password-secret',
  });
  const cert = await new CertificateStore({
    dataDir: h.dir,
    vault: h.vault,
    fqdn: 'node1.openir.test',
  }).createSelfSigned({ key: 'p256', days: 30 });
  return { ...h, thumbprint: cert.thumbprintSha256 };
}

describe('BackupService', () => {
  it('backs up a node and restores it into an empty home with another vault, secrets included', async () => {
    const source = await populated();
    const made = await source.backups.create(PASSWORD);
    expect(made.info.node?.id).toBe('node-id-1');
    expect(made.files).toEqual(['config.json', 'credentials.json', 'certificates/store.json']);
    expect(made.secrets).toBe(4);
    for (const secret of [
      'node-credential-secret-value',
      'proxy-password-secret',
      'pg-password-secret',
      'PRIVATE KEY',
    ]) {
      expect(made.file.includes(Buffer.from(secret))).toBe(false);
    }

    const target = home();
    await target.config.update((draft) => {
      draft.vaultBackend = 'secret-service-of-the-new-machine';
    });
    const opened = await target.backups.open(made.file, PASSWORD);
    await target.backups.apply(opened);
    const restored = await new ConfigStore(path.join(target.dir, 'config.json')).load();
    expect(restored.registration).toEqual(REGISTRATION);
    expect(restored.proxy).toMatchObject({ mode: 'custom', user: 'alice' });
    expect(restored.jobs.concurrentJobsLimit).toBe(3);
    expect(restored.vaultBackend).toBe('secret-service-of-the-new-machine');
    expect(await target.vault.get(NODE_CREDENTIAL)).toBe('node-credential-secret-value-0123456789abcdef');
    expect(await target.vault.get(PROXY_PASSWORD)).toBe('proxy-password-secret');
    expect(await target.vault.get(vaultEntryFor('warehouse'))).toContain('pg-password-secret');
    expect(await target.vault.get(`cert-key:${source.thumbprint}`)).toContain('PRIVATE KEY');
    const credentials = await new CredentialStore({ dataDir: target.dir, vault: target.vault }).list();
    expect(credentials.map((c) => c.name)).toEqual(['warehouse']);
    expect(filesContaining(target.dir, 'pg-password-secret')).toEqual([]);
  });

  it('changes nothing on a wrong password', async () => {
    const source = await populated();
    const made = await source.backups.create(PASSWORD);
    const target = home();
    await target.vault.set(PROXY_PASSWORD, 'kept');
    const before = snapshot(target.dir);
    expect(await codeOf(target.backups.open(made.file, 'not the password'))).toBe('BACKUP_WRONG_PASSWORD');
    expect(snapshot(target.dir)).toEqual(before);
  });

  it('puts everything back when a write fails half-way', async () => {
    const source = await populated();
    const made = await source.backups.create(PASSWORD);
    // A vault whose disk fills up at the last secret.
    const target = home((dir) => {
      const real = new FileVault(path.join(dir, 'vault'));
      return {
        backend: real.backend,
        get: (name) => real.get(name),
        delete: (name) => real.delete(name),
        set: async (name, value) => {
          if (name.startsWith('cert-key:')) throw new OpenIrError('STORAGE_WRITE_FAILED', 'disk full');
          await real.set(name, value);
        },
      };
    });
    await target.vault.set(PROXY_PASSWORD, 'old-proxy-password');
    await target.config.update((draft) => {
      draft.logLevel = 'warn';
    });
    const before = await secretsOf(target.vault, ['node-credential', 'proxy-password']);
    const opened = await target.backups.open(made.file, PASSWORD);
    expect(await codeOf(target.backups.apply(opened))).toBe('STORAGE_WRITE_FAILED');
    expect(await secretsOf(target.vault, ['node-credential', 'proxy-password'])).toEqual(before);
    const config = await new ConfigStore(path.join(target.dir, 'config.json')).load();
    expect(config.registration).toBeNull();
    expect(config.logLevel).toBe('warn');
    expect(fs.existsSync(path.join(target.dir, 'credentials.json'))).toBe(false);
  });

  it('clears the registration and its secrets, keeping the machine settings', async () => {
    const source = await populated();
    await new CredentialCipher(source.vault).encrypt('x');
    await source.backups.clearRegistration();
    expect(await source.vault.get(NODE_CREDENTIAL)).toBeNull();
    expect(await source.vault.get('credential-encryption-key')).toBeNull();
    expect(await source.vault.get(PROXY_PASSWORD)).toBe('proxy-password-secret');
    expect((await source.config.load()).registration).toBeNull();
  });
});

async function secretsOf(vault: SecretVault, names: string[]): Promise<(string | null)[]> {
  return Promise.all(names.map((name) => vault.get(name)));
}

/** Every file under `dir` with its bytes, to prove nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full).toString('base64');
    }
  };
  walk(dir);
  return out;
}
