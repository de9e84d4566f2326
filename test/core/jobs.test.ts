import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/core/config';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { CopyMeter } from '../../src/core/jobs/meter';
import { LocalPathPolicy } from '../../src/core/jobs/pathPolicy';
import { FileVault } from '../../src/core/vault';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

describe('local folder path validation', () => {
  const allowed = tempDir('openir-allowed-');
  const other = tempDir('openir-other-');
  fs.mkdirSync(path.join(allowed, 'in'));
  fs.writeFileSync(path.join(allowed, 'in', 'a.txt'), 'a');
  fs.writeFileSync(path.join(other, 'secret.txt'), 's');
  fs.symlinkSync(other, path.join(allowed, 'out-link'));
  const policy = new LocalPathPolicy(async () => [allowed]);

  it('allows files under an allowed folder, as real paths', async () => {
    expect(await policy.forRead(allowed, 'in/a.txt')).toBe(
      path.join(fs.realpathSync(allowed), 'in', 'a.txt'),
    );
    expect(await policy.forRead(allowed, '/in/a.txt')).toBe(
      path.join(fs.realpathSync(allowed), 'in', 'a.txt'),
    );
    expect(await policy.forWrite(allowed, 'new/dir/b.txt')).toBe(
      path.join(fs.realpathSync(allowed), 'new', 'dir', 'b.txt'),
    );
  });

  it('refuses "..", links out of the folder, and folders not on the allow-list', async () => {
    const refused = { code: 'LOCAL_PATH_NOT_ALLOWED' };
    await expect(policy.forRead(allowed, `../${path.basename(other)}/secret.txt`)).rejects.toMatchObject(
      refused,
    );
    await expect(policy.forRead(allowed, 'out-link/secret.txt')).rejects.toMatchObject(refused);
    await expect(policy.forWrite(allowed, 'out-link/new.txt')).rejects.toMatchObject(refused);
    await expect(policy.forRead(other, 'secret.txt')).rejects.toMatchObject(refused);
    // A path outside is refused as such even when nothing is there: a job cannot probe the disk.
    await expect(policy.forRead(allowed, '../no-such-dir/none.txt')).rejects.toMatchObject(refused);
  });

  it('allows nothing with an empty allow-list', async () => {
    const none = new LocalPathPolicy(async () => []);
    await expect(none.forRead(allowed, 'in/a.txt')).rejects.toMatchObject({
      code: 'LOCAL_PATH_NOT_ALLOWED',
      fix: expect.stringContaining('openir config allow-folder'),
    });
  });
});

describe('data store credentials', () => {
  const home = tempDir('openir-cred-');
  const vault = new FileVault(path.join(home, 'vault'));
  const store = new CredentialStore({ dataDir: home, vault });

  it('keeps secrets in the vault only, and keeps a saved secret when an update omits it', async () => {
    const view = await store.set({
      name: 'db',
      type: 'postgresql',
      host: 'db.local',
      port: 5432,
      database: 'sales',
      user: 'reader',
      ssl: true,
      password: 'pg-password-123456',
    });
    expect(view).toMatchObject({ type: 'postgresql', hasPassword: true });
    expect(JSON.stringify(view)).not.toContain('pg-password-123456');
    await store.set({
      name: 'db',
      type: 'postgresql',
      host: 'db2.local',
      port: 5433,
      database: 'sales',
      user: 'reader',
      ssl: false,
    });
    const resolved = await store.resolve('db', ['postgresql']);
    expect(resolved).toMatchObject({
      host: 'db2.local',
      port: 5433,
      ssl: false,
      password: 'pg-password-123456',
    });
    await store.set({
      name: 'api',
      type: 'http',
      baseUrl: 'https://api.local/',
      headers: { 'X-Key': 'header-secret-987654' },
    });
    const list = await store.list();
    expect(list.map((c) => c.name)).toEqual(['api', 'db']);
    expect(JSON.stringify(list)).not.toMatch(/pg-password|header-secret/);
    expect(filesContaining(home, 'pg-password-123456')).toEqual([]);
    expect(filesContaining(home, 'header-secret-987654')).toEqual([]);
  });

  it('deletes the secret with the credential, and names what is missing', async () => {
    await store.delete('db');
    expect(await vault.get('data-store-credential:db')).toBeNull();
    await expect(store.resolve('db', ['postgresql'])).rejects.toMatchObject({ code: 'CREDENTIAL_NOT_FOUND' });
    await expect(store.resolve('api', ['localFolder'])).rejects.toMatchObject({
      code: 'CREDENTIAL_TYPE_MISMATCH',
    });
  });
});

describe('copy meter', () => {
  const run = async (format: 'raw' | 'csv' | 'ndjson', text: string) => {
    const meter = new CopyMeter(format, new Writable({ write: (_c, _e, cb) => cb() }));
    await pipeline(Readable.from([Buffer.from(text)]), meter);
    return meter.reading();
  };

  it('counts rows of csv (less the header) and ndjson, bytes of everything', async () => {
    expect(await run('csv', 'a,b\n1,2\n3,4')).toEqual({ bytes: 11, rows: 2 });
    expect(await run('ndjson', '{}\n{}\n')).toEqual({ bytes: 6, rows: 2 });
    expect(await run('raw', 'xyz')).toEqual({ bytes: 3, rows: undefined });
  });
});

describe('config schema 4', () => {
  it('migrates a version 3 config: path validation on with an empty allow-list, default jobs limit', async () => {
    const file = path.join(tempDir(), 'config.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        schemaVersion: 3,
        vaultBackend: null,
        logLevel: 'info',
        registration: null,
        proxy: { mode: 'none' },
        remoteAccess: { mode: 'disabled' },
      }),
    );
    const config = await new ConfigStore(file).load();
    expect(config.schemaVersion).toBe(4);
    expect(config.jobs).toEqual({ allowedFolders: [], concurrentJobsLimit: null });
  });
});
