import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/core/config';
import {
  DiagnosticsBundleService,
  type DiagnosticsBundleLinks,
  type DiagnosticsSection,
} from '../../src/core/diagnosticsBundle';
import { checkOutputFile, writeOutputFile } from '../../src/core/outputFile';
import { VAULT_BACKENDS } from '../../src/core/vault';
import { DIAGNOSTICS_BUNDLE_ID_PATTERN } from '../../src/shared/diagnosticsBundle';
import { OpenIrError } from '../../src/shared/errors';
import type { StatusReport } from '../../src/shared/statusReport';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * The bundle service with real parts on a temp dir (logger, config, file
 * system) and hand-made views: what goes in, and the final scan failing the
 * bundle closed when an injected section leaks a known secret in any encoding.
 */
const SECRET = 'planted-secret-9f2c61d0b7a4e3';
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKp1Zl4c0w0p7YdJg3b1vU9a8Qm2Lx7r4sTqWnH6yZcE\n-----END PRIVATE KEY-----\n';

const status: StatusReport = {
  status: 'NeedRegistration',
  registered: false,
  serviceRunning: true,
  version: '0.1.0',
  ir: null,
  node: null,
  controlPlane: null,
  connectedSince: null,
  lastError: null,
  jobs: { running: 0, limit: 4 },
  system: { cpuPercent: 1, memoryUsedBytes: 1, memoryTotalBytes: 2 },
  vault: VAULT_BACKENDS['encrypted-file'],
  irNodes: [],
  syncKeyFingerprint: null,
  host: { pid: 1, dataDir: '/d', startedAt: '2026-12-03T00:00:00.000Z' },
};

function service(
  sections: DiagnosticsSection[] = [],
  sent: DiagnosticsBundleLinks['send'] | null = null,
  moreSecrets: string[] = [],
) {
  const parts = coreParts('openir-bundle-');
  parts.log.info('a log line before the bundle');
  fs.writeFileSync(path.join(parts.home, 'logs', 'openir.log.1'), `old line with ${SECRET}\n`);
  const uploads: { id: string; bytes: number }[] = [];
  const bundles = new DiagnosticsBundleService({
    version: '0.1.0',
    clock: () => new Date('2026-12-03T10:00:00.000Z'),
    log: parts.log,
    logsDir: path.join(parts.home, 'logs'),
    config: async () => structuredClone(DEFAULT_CONFIG),
    status: async () => ({ ...status, sneaky: SECRET }) as StatusReport,
    jobs: async () => ({ running: 0, limit: 4, recent: [] }) as never,
    certificates: async () => ({ fqdn: 'n.test', certificates: [] }),
    proxy: async () => ({
      settings: { mode: 'custom', address: 'proxy.test', port: 3128, user: 'u' },
      hasPassword: true,
      route: null,
    }),
    credentials: async () => ({ credentials: [] }),
    knownSecrets: async () => [SECRET, JSON.stringify({ privateKey: PEM, passphrase: 'x' }), ...moreSecrets],
    send:
      sent ??
      (async (id, zip) => {
        uploads.push({ id, bytes: zip.byteLength });
        return { receivedAt: '2026-12-03T10:00:01.000Z', size: zip.byteLength };
      }),
    sections,
  });
  return { bundles, uploads, parts };
}

const leakyIn = (text: string): DiagnosticsSection[] => [
  { path: 'troubleshoot.json', produce: async () => text },
];
const base64At = (offset: number, text: string) =>
  Buffer.concat([Buffer.from('x'.repeat(offset)), Buffer.from(text), Buffer.from('tail')]).toString('base64');

describe('diagnostics bundle service', () => {
  afterAll(() => cleanupTempDirs());

  it('makes a zip with an ID, a manifest, the injected sections, and the secrets scrubbed from logs', async () => {
    const { bundles, uploads } = service([{ path: 'troubleshoot.json', produce: async () => '{"ok":true}' }]);
    const made = await bundles.create({});
    expect(made.id).toMatch(DIAGNOSTICS_BUNDLE_ID_PATTERN);
    expect(made.sent).toBeNull();
    expect(uploads).toEqual([]);
    const files = unzipSync(Buffer.from(made.content, 'base64'));
    const manifest = JSON.parse(Buffer.from(files['manifest.json'] ?? []).toString()) as {
      id: string;
      files: { path: string }[];
    };
    expect(manifest.id).toBe(made.id);
    expect(manifest.files.map((f) => f.path)).toContain('troubleshoot.json');
    expect(Buffer.from(files['troubleshoot.json'] ?? []).toString()).toBe('{"ok":true}');
    expect(Buffer.from(files['logs/openir.log'] ?? []).toString()).toContain('a log line before the bundle');
    expect(Buffer.from(files['logs/openir.log.1'] ?? []).toString()).toBe('old line with [redacted]\n');
    // The status view went through its schema: a field it does not name is dropped.
    expect(Buffer.from(files['status.json'] ?? []).toString()).not.toContain('sneaky');
    const proxy = JSON.parse(Buffer.from(files['proxy.json'] ?? []).toString()) as {
      settings: { password: string; address: string };
    };
    expect(proxy.settings).toMatchObject({ address: 'proxy.test', password: '[redacted]' });
  });

  it.each([
    ['raw', `{"x":"${SECRET}"}`],
    ['base64 at offset 0', base64At(0, SECRET)],
    ['base64 at offset 1', base64At(1, SECRET)],
    ['base64 at offset 2', base64At(2, SECRET)],
    ['base64url', Buffer.from(`??>>${SECRET}`).toString('base64url')],
    ['hex', Buffer.from(SECRET).toString('hex')],
    ['HEX', Buffer.from(SECRET).toString('hex').toUpperCase()],
    ['a JSON-escaped private key', JSON.stringify({ key: PEM })],
    ['one line of a private key', PEM.split('\n')[1] ?? ''],
    ['an authentication key', 'IR@abc@def@ServiceEndpoint=https://cp:1@Pin=xyz@s3cr3tvalue'],
  ])('fails closed when a section leaks a secret (%s), and sends nothing', async (_form, leak) => {
    const { bundles, uploads } = service(leakyIn(leak));
    const error = await bundles.create({ send: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DIAGNOSTICS_SECRET_FOUND' });
    expect((error as Error).message).toContain('troubleshoot.json');
    expect((error as Error).message).not.toContain(SECRET);
    expect(uploads).toEqual([]);
  });

  it('puts a coded error file in place of a part that fails, and still makes the bundle', async () => {
    const { bundles } = service([
      {
        path: 'troubleshoot.json',
        produce: async () => {
          throw new OpenIrError('TIMEOUT', 'The troubleshoot run took too long.');
        },
      },
    ]);
    const files = unzipSync(Buffer.from((await bundles.create({})).content, 'base64'));
    expect(Object.keys(files)).not.toContain('troubleshoot.json');
    expect(JSON.parse(Buffer.from(files['troubleshoot.json.error.json'] ?? []).toString())).toEqual({
      error: { code: 'TIMEOUT', message: 'The troubleshoot run took too long.' },
    });
  });

  it('does not scan values shorter than 8 characters (a password equal to a user name must not block every bundle)', async () => {
    const { bundles } = service([], null, ['proxy.t']);
    const made = await bundles.create({});
    const proxy = Buffer.from(unzipSync(Buffer.from(made.content, 'base64'))['proxy.json'] ?? []).toString();
    expect(proxy).toContain('proxy.test');
  });

  it('sends when asked, and a failed send keeps the bundle with the coded reason', async () => {
    const good = service();
    const sent = await good.bundles.create({ send: true });
    expect(sent.sent).toEqual({ ok: true, receivedAt: '2026-12-03T10:00:01.000Z', size: sent.size });
    expect(good.uploads).toEqual([{ id: sent.id, bytes: sent.size }]);

    const down = service([], async () => {
      throw new OpenIrError('CONTROL_PLANE_UNREACHABLE', 'The control plane is down.', { fix: 'Start it.' });
    });
    const kept = await down.bundles.create({ send: true });
    expect(kept.content.length).toBeGreaterThan(100);
    expect(kept.sent).toEqual({
      ok: false,
      error: { code: 'CONTROL_PLANE_UNREACHABLE', message: 'The control plane is down.', fix: 'Start it.' },
    });
  });
});

describe('output file', () => {
  it('writes atomically, refuses to overwrite, and codes what cannot be written', async () => {
    const dir = tempDir('openir-out-');
    const file = path.join(dir, 'b.zip');
    await writeOutputFile(file, Buffer.from('one'), false);
    await expect(writeOutputFile(file, Buffer.from('two'), false)).rejects.toMatchObject({
      code: 'FILE_EXISTS',
    });
    expect(fs.readFileSync(file, 'utf8')).toBe('one');
    await writeOutputFile(file, Buffer.from('two'), true);
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    await expect(checkOutputFile(dir, true)).rejects.toMatchObject({ code: 'FILE_EXISTS' });
    await expect(checkOutputFile(path.join(dir, 'none', 'b.zip'), false)).rejects.toMatchObject({
      code: 'FILE_NOT_WRITABLE',
    });
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('says DISK_FULL when the disk is full, leaving no temp file (a 64 KiB tmpfs)', async (ctx) => {
    const small = tempDir('openir-full-');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]).status === 0;
    if (!mounted) {
      console.log('skipped: mounting a small tmpfs needs root');
      ctx.skip();
      return;
    }
    try {
      const file = path.join(small, 'b.zip');
      await expect(writeOutputFile(file, Buffer.alloc(1024 * 1024, 7), false)).rejects.toMatchObject({
        code: 'DISK_FULL',
      });
      expect(fs.readdirSync(small)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  });
});
