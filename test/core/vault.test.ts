import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/core/config';
import { Logger, Redactor } from '../../src/core/logger';
import { FileVault, openVault, OsKeyringVault, type SecretVault } from '../../src/core/vault';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('vault');
const SECRET = 'node-credential-value-8f2b1c9d7e6a5f4b3c2d1e0f';

async function roundTrip(vault: SecretVault): Promise<void> {
  expect(await vault.get('missing')).toBeNull();
  await vault.set('node-credential', SECRET);
  expect(await vault.get('node-credential')).toBe(SECRET);
  await vault.set('node-credential', `${SECRET}-2`);
  expect(await vault.get('node-credential')).toBe(`${SECRET}-2`);
  await vault.delete('node-credential');
  expect(await vault.get('node-credential')).toBeNull();
}

describe('FileVault (the weaker fallback)', () => {
  it('round-trips secrets and never writes them in plain text', async () => {
    const dir = tempDir();
    const vault = new FileVault(dir);
    await roundTrip(vault);
    await vault.set('kept', SECRET);
    expect(filesContaining(dir, SECRET)).toEqual([]);
    expect(fs.statSync(path.join(dir, 'file-vault.key')).mode & 0o777).toBe(0o600);
    expect(vault.backend.strength).toBe('weak');
    expect(await new FileVault(dir).get('kept')).toBe(SECRET);
  });

  it('detects tampering instead of returning garbage', async () => {
    const dir = tempDir();
    const vault = new FileVault(dir);
    await vault.set('kept', SECRET);
    const file = path.join(dir, 'secrets.json');
    const data = JSON.parse(fs.readFileSync(file, 'utf8'));
    const entry = JSON.parse(data.entries.kept);
    const sealed = Buffer.from(entry.data, 'base64');
    sealed[0] = (sealed[0] ?? 0) ^ 0xff;
    entry.data = sealed.toString('base64');
    data.entries.kept = JSON.stringify(entry);
    fs.writeFileSync(file, JSON.stringify(data));
    await expect(new FileVault(dir).get('kept')).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' });
  });
});

// The D-Bus session exists only when `npm test` started one (see scripts/test.js).
const secretServiceUp = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS);
if (!secretServiceUp)
  console.log(
    'skipped: Secret Service tests need a D-Bus session with gnome-keyring (npm test starts one when installed)',
  );

describe.runIf(secretServiceUp)('OsKeyringVault against a real Secret Service', () => {
  it('answers the probe', async () => {
    expect(await new OsKeyringVault(tempDir()).probe()).toBe(true);
  });

  it('round-trips secrets and keeps nodes with different data directories apart', async () => {
    const a = new OsKeyringVault(tempDir());
    const b = new OsKeyringVault(tempDir());
    expect(a.backend.id).toBe('secret-service');
    await roundTrip(a);
    await a.set('node-credential', 'A-secret-value-123456');
    await b.set('node-credential', 'B-secret-value-123456');
    expect(await a.get('node-credential')).toBe('A-secret-value-123456');
    expect(await b.get('node-credential')).toBe('B-secret-value-123456');
  });

  it('openVault picks it, records it, and nothing lands in the data directory', async () => {
    const home = tempDir();
    const config = new ConfigStore(path.join(home, 'config.json'));
    const vault = await openVault({ home, vaultDir: path.join(home, 'vault'), config, log });
    expect(vault.backend.id).toBe('secret-service');
    expect((await config.load()).vaultBackend).toBe('secret-service');
    await vault.set('node-credential', SECRET);
    expect(filesContaining(home, SECRET)).toEqual([]);
  });
});

describe('openVault choice', () => {
  const deadKeyring = (home: string) => {
    const real = new OsKeyringVault(home);
    return Object.assign(Object.create(real) as OsKeyringVault, { probe: async () => false });
  };

  it('falls back to the encrypted file, reports it as weak and logs a warning', async () => {
    const home = tempDir();
    const config = new ConfigStore(path.join(home, 'config.json'));
    const vault = await openVault({
      home,
      vaultDir: path.join(home, 'vault'),
      config,
      log,
      osVault: deadKeyring(home),
    });
    expect(vault.backend).toMatchObject({ id: 'encrypted-file', strength: 'weak' });
    expect((await config.load()).vaultBackend).toBe('encrypted-file');
  });

  it('refuses a silent downgrade when the recorded keyring stops answering', async () => {
    const home = tempDir();
    const config = new ConfigStore(path.join(home, 'config.json'));
    await config.update((c) => void (c.vaultBackend = 'secret-service'));
    const attempt = openVault({
      home,
      vaultDir: path.join(home, 'vault'),
      config,
      log,
      osVault: deadKeyring(home),
    });
    await expect(attempt).rejects.toMatchObject({ code: 'VAULT_DOWNGRADE_REFUSED' });
    expect((await config.load()).vaultBackend).toBe('secret-service');
  });

  it('OPENIR_VAULT=os fails clearly when no keyring answers', async () => {
    const home = tempDir();
    const config = new ConfigStore(path.join(home, 'config.json'));
    const attempt = openVault({
      home,
      vaultDir: path.join(home, 'vault'),
      config,
      log,
      preference: 'os',
      osVault: deadKeyring(home),
    });
    await expect(attempt).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' });
    expect((await config.load()).vaultBackend).toBeNull();
  });
});
