import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateStore } from '../../src/core/certificates';
import { FileVault } from '../../src/core/vault';
import { checkCertificateRequirements, type CertificateFacts } from '../../src/shared/certificates';
import {
  opensslAvailable,
  opensslDate,
  selfSignedByOpenssl,
  TestCa,
  toPfx,
  type Fixture,
} from '../helpers/openssl';
import { cleanupTempDirs, filesUnder, tempDir } from '../helpers/tmp';

const FQDN = 'node1.openir.test';
const PASSWORD = 'Pfx-Passw0rd-7c1e';
const DAY = 86_400_000;

afterAll(cleanupTempDirs);

describe('requirement check (pure)', () => {
  const now = new Date('2026-01-15T00:00:00Z');
  const good: CertificateFacts = {
    version: 3,
    hasPrivateKey: true,
    notBefore: '2026-01-01T00:00:00Z',
    notAfter: '2027-01-01T00:00:00Z',
    sanDns: [FQDN],
    sanIps: [],
    subjectCn: FQDN,
    key: { type: 'rsa', bits: 2048 },
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth'],
    trusted: true,
    selfSigned: false,
  };
  const codes = (facts: Partial<CertificateFacts>, otherFqdns?: string[]) =>
    checkCertificateRequirements(
      { ...good, ...facts },
      { fqdn: FQDN, now, ...(otherFqdns ? { otherFqdns } : {}) },
    );

  it('passes a good certificate and explains each failure with a fix', () => {
    expect(codes({})).toEqual({ problems: [], warnings: [] });
    const all = codes({
      version: 1,
      hasPrivateKey: false,
      notAfter: '2026-01-10T00:00:00Z',
      sanDns: ['*.openir.test'],
      key: { type: 'ec', curve: 'secp256k1' },
      extKeyUsage: ['clientAuth'],
      trusted: false,
    }).problems;
    expect(all.map((p) => p.code)).toEqual([
      'NOT_V3',
      'NO_PRIVATE_KEY',
      'EXPIRED',
      'WILDCARD',
      'WEAK_KEY',
      'NO_SERVER_AUTH',
      'UNTRUSTED',
    ]);
    for (const p of all) expect(p.fix.length).toBeGreaterThan(10);
  });

  it('checks dates, key sizes, usages and the other nodes', () => {
    expect(codes({ notBefore: '2026-02-01T00:00:00Z' }).problems.map((p) => p.code)).toEqual([
      'NOT_YET_VALID',
    ]);
    expect(
      codes({ notAfter: new Date(now.getTime() + 10 * DAY).toISOString() }).warnings.map((w) => w.code),
    ).toEqual(['EXPIRES_SOON']);
    expect(codes({ key: { type: 'rsa', bits: 1024 } }).problems.map((p) => p.code)).toEqual(['WEAK_KEY']);
    expect(codes({ key: { type: 'ec', curve: 'P-384' } }).problems).toEqual([]);
    expect(codes({ key: { type: 'other', algorithm: 'ed25519' } }).problems.map((p) => p.code)).toEqual([
      'WEAK_KEY',
    ]);
    expect(codes({ keyUsage: ['keyCertSign'] }).problems.map((p) => p.code)).toEqual(['NO_SERVER_AUTH']);
    expect(codes({ keyUsage: undefined, extKeyUsage: undefined }).problems).toEqual([]);
    expect(codes({ extKeyUsage: ['anyExtendedKeyUsage'] }).problems).toEqual([]);
    expect(codes({ sanDns: ['NODE1.openir.test.'] }).problems).toEqual([]);
    const peers = codes({}, ['node2.openir.test']).problems;
    expect(peers.map((p) => p.code)).toEqual(['FQDN_NOT_IN_SAN']);
    expect(peers[0]?.message).toContain('node2.openir.test');
    expect(codes({ sanDns: [] }).warnings.map((w) => w.code)).toEqual(['FQDN_ONLY_IN_SUBJECT']);
  });
});

describe.runIf(opensslAvailable)('certificate store with openssl-made certificates', () => {
  let ca: TestCa;
  let dataDir: string;
  let vaultDir: string;
  let store: CertificateStore;
  const fixtures: Record<string, Fixture> = {};
  const storeAt = (clock: () => Date) =>
    new CertificateStore({ dataDir, vault: new FileVault(vaultDir), fqdn: FQDN, clock });
  const read = (file: string) => fs.readFileSync(file);
  const codesOf = async (file: string, password?: string, s = store) =>
    (await s.inspect(read(file), password)).problems.map((p) => p.code);

  beforeAll(async () => {
    ca = new TestCa();
    dataDir = tempDir('openir-certs-');
    vaultDir = path.join(dataDir, 'vault');
    store = storeAt(() => new Date());
    const san = `DNS:${FQDN}`;
    const now = Date.now();
    fixtures.good = ca.issue('good', { cn: FQDN, san });
    fixtures.noSan = ca.issue('nosan', { cn: FQDN });
    fixtures.wildcard = ca.issue('wild', { cn: '*.openir.test', san: 'DNS:*.openir.test' });
    fixtures.expired = ca.issue('expired', {
      cn: FQDN,
      san,
      startDate: opensslDate(new Date(now - 90 * DAY)),
      endDate: opensslDate(new Date(now - 30 * DAY)),
    });
    fixtures.future = ca.issue('future', {
      cn: FQDN,
      san,
      startDate: opensslDate(new Date(now + 30 * DAY)),
      endDate: opensslDate(new Date(now + 400 * DAY)),
    });
    fixtures.rsa1024 = ca.issue('rsa1024', { cn: FQDN, san, key: 'rsa1024' });
    fixtures.ec = ca.issue('ec', { cn: FQDN, san, key: 'p256', keyUsage: 'critical,digitalSignature' });
    fixtures.k1 = ca.issue('k1', { cn: FQDN, san, key: 'secp256k1', keyUsage: 'critical,digitalSignature' });
    fixtures.clientOnly = ca.issue('client', { cn: FQDN, san, eku: 'clientAuth' });
    fixtures.v1 = ca.issue('v1', { cn: FQDN, v1: true });
    fixtures.self = selfSignedByOpenssl(ca.dir, FQDN, san);
    // The test CA is trusted through the store's own trust list, like a company CA installed on the node.
    await store.import(read(ca.cert), undefined, { trust: true });
  });

  it('a good SAN certificate (PEM cert + key) meets every requirement', async () => {
    expect(await codesOf(fixtures.good!.bundle)).toEqual([]);
  });

  it.each([
    ['noSan', ['FQDN_NOT_IN_SAN']],
    ['wildcard', ['WILDCARD']],
    ['expired', ['EXPIRED']],
    ['future', ['NOT_YET_VALID']],
    ['rsa1024', ['WEAK_KEY']],
    ['ec', []],
    ['k1', ['WEAK_KEY']],
    ['clientOnly', ['NO_SERVER_AUTH']],
    ['v1', ['NOT_V3', 'FQDN_NOT_IN_SAN']],
    ['self', ['UNTRUSTED']],
  ])('%s yields exactly %j', async (name, expected) => {
    expect(await codesOf(fixtures[name]!.bundle)).toEqual(expected);
  });

  it('a PEM certificate without its key: NO_PRIVATE_KEY; with a foreign key: NO_PRIVATE_KEY saying so', async () => {
    expect(await codesOf(fixtures.good!.cert)).toEqual(['NO_PRIVATE_KEY']);
    const mixed = path.join(ca.dir, 'mixed.pem');
    fs.writeFileSync(
      mixed,
      fs.readFileSync(fixtures.good!.cert, 'utf8') + fs.readFileSync(fixtures.ec!.key, 'utf8'),
    );
    const info = await store.inspect(read(mixed));
    expect(info.problems.map((p) => p.code)).toEqual(['NO_PRIVATE_KEY']);
    expect(info.problems[0]?.message).toContain('does not belong');
  });

  it('reads PFX with the right password, refuses a wrong one, and reads legacy RC2/3DES PFX', async () => {
    const pfx = toPfx(fixtures.good!, PASSWORD);
    expect(await codesOf(pfx, PASSWORD)).toEqual([]);
    await expect(store.inspect(read(pfx), 'wrong')).rejects.toMatchObject({ code: 'BAD_PASSWORD' });
    await expect(store.inspect(read(pfx))).rejects.toMatchObject({ code: 'BAD_PASSWORD' });
    const legacy = toPfx(fixtures.ec!, PASSWORD, { legacy: true });
    expect(
      openssl(['pkcs12', '-in', legacy, '-info', '-noout', '-passin', `pass:${PASSWORD}`, '-legacy']),
    ).toBe('');
    const info = await store.inspect(read(legacy), PASSWORD);
    expect(info.problems).toEqual([]);
    expect(info.key).toEqual({ type: 'ec', curve: 'P-256', bits: 256 });
    const empty = toPfx(fixtures.rsa1024!, '');
    expect(await codesOf(empty)).toEqual(['WEAK_KEY']);
  });

  it('garbage is UNREADABLE', async () => {
    await expect(store.inspect(Buffer.from('not a certificate at all'))).rejects.toMatchObject({
      code: 'UNREADABLE',
    });
    await expect(
      store.inspect(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')),
    ).rejects.toMatchObject({
      code: 'UNREADABLE',
    });
  });

  it('an injected clock turns the good certificate expired, not yet valid, or expiring soon', async () => {
    const info = await store.inspect(read(fixtures.good!.bundle));
    const notAfter = Date.parse(info.notAfter);
    expect(
      await codesOf(
        fixtures.good!.bundle,
        undefined,
        storeAt(() => new Date(notAfter + DAY)),
      ),
    ).toEqual(['EXPIRED']);
    expect(
      await codesOf(
        fixtures.good!.bundle,
        undefined,
        storeAt(() => new Date(Date.parse(info.notBefore) - DAY)),
      ),
    ).toEqual(['NOT_YET_VALID']);
    const soon = await storeAt(() => new Date(notAfter - 5 * DAY)).inspect(read(fixtures.good!.bundle));
    expect(soon.problems).toEqual([]);
    expect(soon.warnings.map((w) => w.code)).toEqual(['EXPIRES_SOON']);
  });

  it('imports a PFX, keeps the key only in the vault, exports PFX and PEM, removes', async () => {
    const keyPem = fs.readFileSync(fixtures.good!.key, 'utf8');
    const keyBody = keyPem.split('\n')[1] ?? '';
    const stored = await store.import(read(toPfx(fixtures.good!, PASSWORD)), PASSWORD);
    expect(stored).toMatchObject({
      hasPrivateKey: true,
      origin: 'imported',
      trustAnchor: false,
      problems: [],
    });
    expect(keyBody.length).toBeGreaterThan(40);
    for (const file of filesUnder(dataDir)) expect(fs.readFileSync(file, 'utf8')).not.toContain(keyBody);
    expect(fs.readFileSync(path.join(dataDir, 'certificates', 'store.json'), 'utf8')).not.toContain(
      'PRIVATE KEY',
    );

    const list = await store.list();
    expect(list.map((c) => c.thumbprint)).toContain(stored.thumbprint);

    const pfx = await store.exportPfx(stored.thumbprint, 'Export-Pw-1');
    const out = path.join(ca.dir, 'export.pfx');
    fs.writeFileSync(out, pfx);
    const info = openssl(['pkcs12', '-in', out, '-info', '-nokeys', '-passin', 'pass:Export-Pw-1']);
    expect(info).toContain(`subject=CN = ${FQDN}`);
    const keyOut = openssl(['pkcs12', '-in', out, '-nocerts', '-nodes', '-passin', 'pass:Export-Pw-1']);
    expect(keyOut).toContain('PRIVATE KEY');
    await expect(store.exportPfx(stored.thumbprint, '')).rejects.toMatchObject({ code: 'INVALID_INPUT' });

    const pem = await store.exportPem(stored.thumbprintSha256.toUpperCase());
    expect(pem).toContain('BEGIN CERTIFICATE');
    expect(pem).not.toContain('PRIVATE KEY');

    await store.remove(stored.thumbprint);
    expect((await store.list()).map((c) => c.thumbprint)).not.toContain(stored.thumbprint);
    expect(await new FileVault(vaultDir).get(`cert-key:${stored.thumbprintSha256}`)).toBeNull();
    await expect(store.remove(stored.thumbprint)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each(['rsa2048', 'p256'] as const)(
    'a generated %s self-signed certificate passes every check but UNTRUSTED, until trusted',
    async (key) => {
      const created = await store.createSelfSigned({ key, days: 90 });
      expect(created.problems.map((p) => p.code)).toEqual(['UNTRUSTED']);
      expect(created).toMatchObject({
        san: [FQDN],
        selfSigned: true,
        hasPrivateKey: true,
        origin: 'self-signed',
      });
      expect(created.key.type).toBe(key === 'p256' ? 'ec' : 'rsa');

      // openssl agrees on what it is.
      const pemFile = path.join(ca.dir, `gen-${key}.pem`);
      fs.writeFileSync(pemFile, await store.exportPem(created.thumbprint));
      const text = openssl(['x509', '-in', pemFile, '-noout', '-text']);
      expect(text).toContain('Version: 3');
      expect(text).toContain('TLS Web Server Authentication');
      expect(text).toContain(`DNS:${FQDN}`);
      expect(openssl(['verify', '-CAfile', pemFile, pemFile])).toContain('OK');

      const trusted = await store.setTrust(created.thumbprint, true);
      expect(trusted.problems).toEqual([]);
      expect(trusted.trustAnchor).toBe(true);

      // A PFX export round-trips through openssl and back into a store.
      const pfx = path.join(ca.dir, `gen-${key}.pfx`);
      fs.writeFileSync(pfx, await store.exportPfx(created.thumbprint, PASSWORD));
      expect(openssl(['pkcs12', '-in', pfx, '-info', '-nokeys', '-passin', `pass:${PASSWORD}`])).toContain(
        `subject=CN = ${FQDN}`,
      );
      expect((await store.inspect(read(pfx), PASSWORD)).hasPrivateKey).toBe(true);
    },
  );

  it('generates for several DNS names and IP addresses', async () => {
    const created = await store.createSelfSigned({
      dnsNames: [FQDN, 'node2.openir.test', '10.1.2.3'],
      days: 10,
    });
    expect(created.san).toEqual([FQDN, 'node2.openir.test', '10.1.2.3']);
    expect(created.warnings.map((w) => w.code)).toEqual(['EXPIRES_SOON']);
  });

  it('lists the system trust stores read-only and says which were read', () => {
    const system = store.listSystem();
    const bundled = system.stores.find((s) => s.id === 'node-bundled');
    expect(bundled).toMatchObject({ read: true });
    expect(bundled!.count).toBeGreaterThan(50);
    // The OS store: Node's tls.getCACertificates('system') reads OpenSSL's default file and folder here.
    const os = system.stores.find((s) => s.id === 'os');
    expect(os?.read).toBe(fs.existsSync('/etc/ssl/certs/ca-certificates.crt'));
    expect(system.certificates.length).toBeGreaterThan(50);
  });
});

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
