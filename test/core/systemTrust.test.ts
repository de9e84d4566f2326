import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { osStoreLabel, SystemTrust } from '../../src/core/certificates/trust';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

/** A real self-signed root made by openssl, as the one certificate of a fake OS store. */
function makeRoot(dir: string, cn: string): string {
  const key = path.join(dir, `${cn}.key`);
  const cert = path.join(dir, `${cn}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      `/CN=${cn}`,
    ],
    { stdio: 'ignore' },
  );
  return fs.readFileSync(cert, 'utf8');
}

describe('system trust stores', () => {
  const dir = tempDir();
  const root = makeRoot(dir, 'OpenIR Test OS Root');

  it("reads the OS store through tls.getCACertificates('system') on every platform, named as the user knows it", () => {
    for (const [platform, name] of [
      ['win32', /Windows certificate store/],
      ['darwin', /macOS Keychain/],
      ['linux', /Operating system trust store \(\/etc\/ssl\/certs\)/],
    ] as const) {
      const asked: string[] = [];
      const trust = new SystemTrust({
        platform,
        env: {},
        getCaCertificates: (type) => {
          asked.push(type);
          return type === 'system' ? [root, root] : [...tls.rootCertificates];
        },
      });
      const { stores, certificates } = trust.list();
      expect(asked.sort()).toEqual(['bundled', 'system']);
      const os = stores.find((s) => s.id === 'os');
      expect(os).toMatchObject({ read: true, count: 1 });
      expect(os?.label).toMatch(name);
      expect(certificates.filter((c) => c.store === 'os').map((c) => c.subject)).toEqual([
        'CN=OpenIR Test OS Root',
      ]);
      expect(trust.anchors().contains(new X509Certificate(root))).toBe(true);
    }
  });

  it('names the OpenSSL locations the environment chose on Linux', () => {
    expect(osStoreLabel('linux', { SSL_CERT_FILE: '/opt/ca.pem', SSL_CERT_DIR: '/opt/certs' })).toBe(
      'Operating system trust store (/opt/ca.pem, /opt/certs)',
    );
  });

  it('says why the OS store was not read when it fails', () => {
    const trust = new SystemTrust({
      platform: 'win32',
      getCaCertificates: (type) => {
        if (type === 'system') throw new Error('access denied');
        return [...tls.rootCertificates];
      },
    });
    const os = trust.list().stores.find((s) => s.id === 'os');
    expect(os).toMatchObject({ read: false, count: 0, reason: 'it could not be read: access denied' });
    expect(trust.list().stores.find((s) => s.id === 'node-bundled')?.read).toBe(true);
  });

  it('without the API (Node 22.12–22.14): the CA bundle file on Linux, a reason elsewhere', () => {
    const bundle = path.join(dir, 'bundle.crt');
    fs.writeFileSync(bundle, root);
    const linux = new SystemTrust({
      platform: 'linux',
      getCaCertificates: undefined,
      bundlePaths: ['/nonexistent', bundle],
    });
    expect(linux.list().stores.find((s) => s.id === 'os')).toMatchObject({
      read: true,
      count: 1,
      label: `System CA bundle (${bundle})`,
    });
    const mac = new SystemTrust({ platform: 'darwin', getCaCertificates: undefined });
    expect(mac.list().stores.find((s) => s.id === 'os')).toMatchObject({
      read: false,
      reason: 'it needs Node.js 22.15 or later',
    });
  });

  it('reads the real store of this machine (Node 24 has the API)', () => {
    const { stores } = new SystemTrust().list();
    expect(typeof (tls as { getCACertificates?: unknown }).getCACertificates).toBe('function');
    const os = stores.find((s) => s.id === 'os');
    expect(os?.read).toBe(true);
    if (fs.existsSync('/etc/ssl/certs/ca-certificates.crt')) expect(os?.count).toBeGreaterThan(50);
  });
});
