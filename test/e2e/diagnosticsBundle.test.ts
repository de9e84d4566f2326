import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_BACKUP_VAULT_ENTRIES } from '../../src/core/backup/entries';
import { certificateKeyName } from '../../src/core/certificates/store';
import { vaultEntryFor } from '../../src/core/jobs/credentialStore';
import { FileVault } from '../../src/core/vault';
import { parseAuthKey } from '../../src/shared/authKey';
import { channelAuthorization } from '../../src/shared/controlPlaneApi';
import { diagnosticsUploadPath } from '../../src/shared/diagnosticsBundle';
import { runControlPlaneCli, startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type CliResult, type StatusJson } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * The diagnostics bundle with real processes: the reference control plane,
 * an OpenIR host with the encrypted-file vault (so the test can read every
 * secret it planted back out of the vault), and the `openir` CLI. Every kind
 * of secret a node holds is planted, then no file of the bundle may contain
 * any of them, raw, base64, base64url or hex; and the parts that are not
 * secret must be there, so the scan is looking at real content.
 */
describe('diagnostics bundle', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
  const random = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
  const PROXY_PASSWORD = random('proxy-pw');
  const HTTP_TOKEN = random('http-token');
  const PG_PASSWORD = random('pg-pw');
  const MYSQL_PASSWORD = random('mysql-pw');
  const BLOB_KEY = randomBytes(64).toString('base64');
  const SFTP_PASSWORD = random('sftp-pw');
  const SFTP_PASSPHRASE = random('sftp-passphrase');
  const BACKUP_PASSWORD = random('backup-password');
  const HOST_KEY = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';

  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key1 = '';
  const node = makeNode({ OPENIR_VAULT: 'file' }, 'dnode');
  const work = tempDir('openir-diag-');
  const vault = () => new FileVault(path.join(node.home, 'vault'));
  /** Every planted secret, by what it is, filled in as the test plants them. */
  const secrets = new Map<string, string>();
  let thumbprint = '';
  let thumbprintSha256 = '';

  const ok = async (args: string[], stdin?: string): Promise<CliResult> => {
    const result = await node.cli(args, stdin);
    if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
    return result;
  };
  const unzip = (file: string) => unzipSync(new Uint8Array(fs.readFileSync(file)));
  const text = (files: Record<string, Uint8Array>, name: string) => {
    const bytes = files[name];
    if (!bytes) throw new Error(`${name} is not in the bundle: ${Object.keys(files).join(', ')}`);
    return Buffer.from(bytes).toString('utf8');
  };
  const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

  beforeAll(async () => {
    cp = await startControlPlane(HEARTBEAT);
    key1 = (await cp.createIr('diag-ir')).key1;
    await node.startHost();
  }, 60_000);

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('plants every kind of secret a node holds', async () => {
    const registered = await ok(['register', '--key-stdin', '--json'], key1);
    expect((registered.json as StatusJson).status).toBe('Online');
    secrets.set('auth key', key1);
    secrets.set('auth key secret', parseAuthKey(key1).secret);

    await ok(
      [
        'credential',
        'set',
        'web-api',
        '--type',
        'http',
        '--base-url',
        'https://api.diag.test/',
        '--secret-stdin',
      ],
      HTTP_TOKEN,
    );
    await ok(
      [
        'credential',
        'set',
        'warehouse-pg',
        '--type',
        'postgresql',
        '--host',
        'pg.diag.test',
        '--database',
        'sales',
        '--user',
        'reader',
        '--secret-stdin',
      ],
      PG_PASSWORD,
    );
    await ok(
      [
        'credential',
        'set',
        'orders-mysql',
        '--type',
        'mysql',
        '--host',
        'mysql.diag.test',
        '--database',
        'orders',
        '--user',
        'reader',
        '--secret-stdin',
      ],
      MYSQL_PASSWORD,
    );
    await ok(
      [
        'credential',
        'set',
        'archive-blob',
        '--type',
        'azureBlob',
        '--account-url',
        'https://diagacct.blob.core.windows.net',
        '--container',
        'archive',
        '--auth',
        'key',
        '--secret-stdin',
      ],
      BLOB_KEY,
    );
    await ok(
      [
        'credential',
        'set',
        'drop-sftp',
        '--type',
        'sftp',
        '--host',
        'sftp.diag.test',
        '--user',
        'dropper',
        '--host-key',
        HOST_KEY,
        '--secret-stdin',
      ],
      SFTP_PASSWORD,
    );
    const keyFile = path.join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', SFTP_PASSPHRASE, '-C', 'diag', '-f', keyFile]);
    await ok(
      [
        'credential',
        'set',
        'drop-sftp-key',
        '--type',
        'sftp',
        '--host',
        'sftp.diag.test',
        '--user',
        'dropper',
        '--host-key',
        HOST_KEY,
        '--private-key-file',
        keyFile,
        '--passphrase-stdin',
      ],
      SFTP_PASSPHRASE,
    );
    secrets.set('http token', HTTP_TOKEN);
    secrets.set('postgres password', PG_PASSWORD);
    secrets.set('mysql password', MYSQL_PASSWORD);
    secrets.set('blob key', BLOB_KEY);
    secrets.set('sftp password', SFTP_PASSWORD);
    secrets.set('sftp passphrase', SFTP_PASSPHRASE);
    secrets.set('sftp private key', fs.readFileSync(keyFile, 'utf8'));

    const created = await ok(['cert', 'create-self-signed', '--dns', 'dnode.openir.test', '--json']);
    const stored = created.json as { thumbprint: string; thumbprintSha256: string };
    thumbprint = stored.thumbprint;
    thumbprintSha256 = stored.thumbprintSha256;
    const certKey = await vault().get(certificateKeyName(thumbprintSha256));
    expect(certKey).toContain('PRIVATE KEY');
    secrets.set('certificate private key', certKey ?? '');

    await ok(
      ['backup', '--out', path.join(work, 'dnode.openir-backup'), '--password-stdin'],
      BACKUP_PASSWORD,
    );
    secrets.set('backup password', BACKUP_PASSWORD);

    // Last: a proxy that does not exist takes the node Offline until it is set back.
    await ok(
      [
        'proxy',
        'set',
        '--mode',
        'custom',
        '--address',
        'proxy.diag.test',
        '--port',
        '3128',
        '--user',
        'diaguser',
        '--password-stdin',
      ],
      PROXY_PASSWORD,
    );
    secrets.set('proxy password', PROXY_PASSWORD);

    // What the vault holds for each planted secret, and the node's own keys, are secrets too
    // (the credential encryption key exists only once a remote client asked for it).
    const credentialEntries = [
      'web-api',
      'warehouse-pg',
      'orders-mysql',
      'archive-blob',
      'drop-sftp',
      'drop-sftp-key',
    ];
    for (const name of [...FIXED_BACKUP_VAULT_ENTRIES, ...credentialEntries.map(vaultEntryFor)]) {
      const value = await vault().get(name);
      if (name !== 'credential-encryption-key') expect(value, name).not.toBeNull();
      if (value !== null) secrets.set(`vault entry ${name}`, value);
    }
    expect(secrets.get('vault entry node-credential')?.length).toBeGreaterThan(30);

    // A rotated log from before redaction knew this password: the bundle must still not carry it.
    fs.writeFileSync(
      path.join(node.home, 'logs', 'openir.log.1'),
      `${JSON.stringify({ time: '2026-12-01T00:00:00.000Z', level: 'info', source: 'old', message: `rotated-line-marker proxy password was ${PROXY_PASSWORD}` })}\n`,
    );
  }, 120_000);

  it('holds none of them in any file, raw, base64, base64url or hex, and does hold the rest', async () => {
    const out = path.join(work, 'bundle.zip');
    const made = await ok(['diagnostics-bundle', '--out', out]);
    const id = /Diagnostics bundle ID: (OIR-[0-9A-Z]{12})/.exec(made.stdout)?.[1];
    expect(id, made.stdout).toBeDefined();

    const files = unzip(out);
    const names = Object.keys(files).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'manifest.json',
        'versions.json',
        'config.json',
        'status.json',
        'jobs.json',
        'certificates.json',
        'proxy.json',
        'logs/openir.log',
        'logs/openir.log.1',
      ]),
    );

    const leaks: string[] = [];
    for (const [what, secret] of secrets) {
      const bytes = Buffer.from(secret);
      const forms: [string, string][] = [
        ['raw', secret],
        ['hex', bytes.toString('hex')],
        ['HEX', bytes.toString('hex').toUpperCase()],
      ];
      // base64 of the secret inside a longer string depends on where it starts: try all three offsets.
      for (let offset = 0; offset < 3; offset += 1) {
        const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
        const middle = encoded.slice(offset === 0 ? 0 : 4, Math.floor((offset + bytes.length) / 3) * 4);
        forms.push([`base64 at offset ${offset}`, middle]);
        forms.push([`base64url at offset ${offset}`, middle.replace(/\+/g, '-').replace(/\//g, '_')]);
      }
      // A private key's lines: a part of the key is as bad as the whole.
      for (const line of secret.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----')))
        forms.push(['a line of it', line]);
      for (const [name, content] of Object.entries(files)) {
        for (const [form, needle] of forms) {
          if (Buffer.from(content).indexOf(Buffer.from(needle)) !== -1)
            leaks.push(`${what} (${form}) in ${name}`);
        }
      }
    }
    expect(leaks).toEqual([]);

    // What is there: the ID, the non-secret settings, the redaction marks, the logs.
    const manifest = JSON.parse(text(files, 'manifest.json')) as {
      id: string;
      files: { path: string; sha256: string }[];
    };
    expect(manifest.id).toBe(id);
    for (const entry of manifest.files) {
      expect(
        createHash('sha256')
          .update(files[entry.path] ?? new Uint8Array())
          .digest('hex'),
        entry.path,
      ).toBe(entry.sha256);
    }
    const config = text(files, 'config.json');
    for (const expected of [
      'proxy.diag.test',
      'diaguser',
      'warehouse-pg',
      'pg.diag.test',
      'drop-sftp-key',
      'diag-ir',
      'dnode',
      '[redacted]',
    ])
      expect(config).toContain(expected);
    const parsed = JSON.parse(config) as {
      proxy: { settings: { password: string } };
      registration: { nodeCredential: string };
    };
    expect(parsed.proxy.settings.password).toBe('[redacted]');
    expect(parsed.registration.nodeCredential).toBe('[redacted]');
    expect(text(files, 'proxy.json')).toContain('proxy.diag.test');
    expect(text(files, 'certificates.json')).toContain(thumbprint);
    expect(text(files, 'certificates.json')).toContain(thumbprintSha256);
    expect(text(files, 'logs/openir.log')).toContain('Runtime host service started');
    expect(text(files, 'logs/openir.log.1')).toContain('rotated-line-marker proxy password was [redacted]');
    const versions = JSON.parse(text(files, 'versions.json')) as {
      node: string;
      app: string;
      os: { platform: string };
    };
    expect(versions.node).toBe(process.versions.node);
    expect(versions.os.platform).toBe(process.platform);
    expect(text(files, 'status.json')).toContain('dnode');
    expect(JSON.parse(text(files, 'jobs.json'))).toHaveProperty('recent');
  }, 60_000);

  it('refuses to overwrite without --overwrite, and replaces with it', async () => {
    const out = path.join(work, 'bundle.zip');
    const before = sha256(out);
    const again = await node.cli(['diagnostics-bundle', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[FILE_EXISTS]');
    expect(sha256(out)).toBe(before);
    const replaced = await ok(['diagnostics-bundle', '--out', out, '--overwrite', '--json']);
    const id = (replaced.json as { id: string }).id;
    expect(JSON.parse(text(unzip(out), 'manifest.json')).id).toBe(id);
    const missing = await node.cli(['diagnostics-bundle', '--out', path.join(work, 'no', 'such', 'b.zip')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[FILE_NOT_WRITABLE]');
  }, 60_000);

  it('--send uploads it to the control plane; diagnostics list and get give back the same bytes', async () => {
    await ok(['proxy', 'set', '--mode', 'none']);
    await node.waitForStatus((s) => s.status === 'Online', 30_000);
    const out = path.join(work, 'sent.zip');
    const sent = await ok(['diagnostics-bundle', '--out', out, '--send', '--json']);
    const answer = sent.json as { id: string; size: number; sent: { ok: boolean; size: number } };
    expect(answer.sent.ok).toBe(true);
    expect(answer.sent.size).toBe(fs.statSync(out).size);

    const listed = await cp.adminOk<{
      bundles: { id: string; nodeName: string; irName: string; size: number; receivedAt: string }[];
    }>(['diagnostics', 'list']);
    const entry = listed.bundles.find((b) => b.id === answer.id);
    expect(entry).toMatchObject({ nodeName: 'dnode', irName: 'diag-ir', size: fs.statSync(out).size });
    // For people: a table with the same row (admin() adds --json, so run the CLI without it).
    const human = await runControlPlaneCli(['diagnostics', 'list', '--data', cp.dataDir]);
    expect(human.stdout).toMatch(/^ID\s+NODE\s+IR\s+SIZE\s+RECEIVED/);
    expect(human.stdout).toMatch(new RegExp(`${answer.id}\\s+dnode\\s+diag-ir\\s+${entry?.size}\\s`));

    const fetched = path.join(work, 'fetched.zip');
    await cp.adminOk(['diagnostics', 'get', answer.id, '--out', fetched]);
    expect(sha256(fetched)).toBe(sha256(out));
    expect(fs.existsSync(path.join(cp.dataDir, 'diagnostics', `${answer.id}.zip`))).toBe(true);
    const unknown = await cp.admin(['diagnostics', 'get', 'OIR-000000000000']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toContain('NOT_FOUND');
  }, 90_000);

  it('the upload takes only the node itself, a zip, and no more than the cap', async () => {
    const reg = JSON.parse(fs.readFileSync(path.join(node.home, 'config.json'), 'utf8')) as {
      registration: { nodeId: string };
    };
    const credential = (await vault().get('node-credential')) ?? '';
    const put = (id: string, body: Buffer, authorization: string, length = body.length) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = https.request(
          {
            host: '127.0.0.1',
            port: cp.port,
            method: 'PUT',
            path: diagnosticsUploadPath(id),
            rejectUnauthorized: false,
            // A fresh connection each: a refused request leaves its unsent body owed on a kept-alive one.
            agent: false,
            headers: {
              authorization,
              'content-type': 'application/octet-stream',
              'content-length': String(length),
            },
          },
          (response) => {
            let text = '';
            response.on('data', (d: Buffer) => (text += d.toString()));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
          },
        );
        request.on('error', reject);
        request.end(length === body.length ? body : undefined);
      });
    const zip = fs.readFileSync(path.join(work, 'sent.zip'));
    const self = channelAuthorization(reg.registration.nodeId, credential);
    const wrong = await put(
      'OIR-111111111111',
      zip,
      channelAuthorization(reg.registration.nodeId, 'x'.repeat(43)),
    );
    expect(wrong.status).toBe(401);
    const notZip = await put('OIR-222222222222', Buffer.from('not a zip at all'), self);
    expect(notZip.status).toBe(400);
    expect(notZip.body).toContain('INVALID_INPUT');
    const tooLarge = await put('OIR-333333333333', Buffer.alloc(0), self, 40 * 1024 * 1024);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toContain('DIAGNOSTICS_BUNDLE_TOO_LARGE');
    // A body without a length that grows past the cap: cut off as it passes it (or the socket is reset).
    const streamed = await new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
      const request = https.request({
        host: '127.0.0.1',
        port: cp.port,
        method: 'PUT',
        path: diagnosticsUploadPath('OIR-444444444444'),
        rejectUnauthorized: false,
        agent: false,
        headers: { authorization: self, 'content-type': 'application/octet-stream' },
      });
      request.on('response', (response) => {
        let text = '';
        response.on('data', (d: Buffer) => (text += d.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', (error) => resolve({ error: error.message }));
      const chunk = Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(1024 * 1024 - 4)]);
      let sent = 0;
      const pump = () => {
        while (sent < 40) {
          sent += 1;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
        request.end();
      };
      pump();
    });
    if ('status' in streamed) {
      expect(streamed.status, streamed.body).toBe(413);
      expect(streamed.body).toContain('DIAGNOSTICS_BUNDLE_TOO_LARGE');
    }
    const listed = await cp.adminOk<{ bundles: { id: string }[] }>(['diagnostics', 'list']);
    expect(listed.bundles.map((b) => b.id)).not.toEqual(
      expect.arrayContaining([
        'OIR-111111111111',
        'OIR-222222222222',
        'OIR-333333333333',
        'OIR-444444444444',
      ]),
    );
    expect(fs.readdirSync(path.join(cp.dataDir, 'diagnostics')).filter((f) => f.endsWith('.part'))).toEqual(
      [],
    );
  }, 60_000);

  it('an unregistered node saves the bundle and says why it was not sent', async () => {
    const loner = makeNode({ OPENIR_VAULT: 'file' }, 'loner');
    await loner.startHost();
    const out = path.join(work, 'loner.zip');
    const result = await loner.cli(['diagnostics-bundle', '--out', out, '--send']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Diagnostics bundle ID: OIR-/);
    expect(result.stderr).toContain('[NOT_REGISTERED]');
    expect(Object.keys(unzip(out))).toContain('manifest.json');
  }, 60_000);
});
