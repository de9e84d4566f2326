import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPublicEndpoint, normalizePublicEndpoint } from '../../src/control-plane/endpoint';
import { platformDataDir, resolveDataDir } from '../../src/control-plane/paths';
import { createSelfSignedCertificate, loadOrCreateTls, publicKeyPin } from '../../src/control-plane/tls';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'openir-cp-tls-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const NAMES = ['localhost', '127.0.0.1', '::1', hostname()];
const NOW = new Date('2030-06-01T12:00:00Z');

describe('TLS certificate', () => {
  it('is self-signed for the local names, for server auth, valid five years', () => {
    const { certPem } = createSelfSignedCertificate(NAMES, NOW);
    const cert = new X509Certificate(certPem);
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost(hostname())).toBe(hostname());
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(4.99);
    expect(years).toBeLessThan(5.01);
  });

  it('pins the SHA-256 of the public key, as computed from the private key independently', () => {
    const { certPem, keyPem } = createSelfSignedCertificate(NAMES, NOW);
    const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(spki).digest('base64');
    expect(publicKeyPin(certPem)).toBe(expected);
    expect(expected).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('is generated once into the data dir (key 0600) and reused after', () => {
    const dataDir = tempDir();
    const first = loadOrCreateTls({ dataDir, hostnames: NAMES, now: NOW });
    expect(first.source).toBe('generated');
    if (process.platform !== 'win32') {
      expect(statSync(path.join(dataDir, 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
    }
    const second = loadOrCreateTls({ dataDir, hostnames: NAMES, now: NOW });
    expect(second.source).toBe('data-dir');
    expect(second.pin).toBe(first.pin);
    expect(readFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'utf8')).toBe(first.certPem);
  });

  it('regenerates both files when the certificate is missing (crash between the two writes)', () => {
    const dataDir = tempDir();
    const first = loadOrCreateTls({ dataDir, hostnames: NAMES, now: NOW });
    rmSync(path.join(dataDir, 'tls', 'cert.pem'));
    const second = loadOrCreateTls({ dataDir, hostnames: NAMES, now: NOW });
    expect(second.source).toBe('generated');
    expect(second.pin).not.toBe(first.pin);
  });

  it('uses a given certificate, and refuses a key that is not its own', () => {
    const dir = tempDir();
    const a = createSelfSignedCertificate(NAMES, NOW);
    const b = createSelfSignedCertificate(NAMES, NOW);
    writeFileSync(path.join(dir, 'a.crt'), a.certPem);
    writeFileSync(path.join(dir, 'a.key'), a.keyPem);
    writeFileSync(path.join(dir, 'b.key'), b.keyPem);
    const given = loadOrCreateTls({
      dataDir: dir,
      certFile: path.join(dir, 'a.crt'),
      keyFile: path.join(dir, 'a.key'),
      hostnames: NAMES,
      now: NOW,
    });
    expect(given).toMatchObject({ source: 'provided', pin: publicKeyPin(a.certPem) });
    expect(() =>
      loadOrCreateTls({
        dataDir: dir,
        certFile: path.join(dir, 'a.crt'),
        keyFile: path.join(dir, 'b.key'),
        hostnames: NAMES,
        now: NOW,
      }),
    ).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('does not belong') }),
    );
    expect(() =>
      loadOrCreateTls({ dataDir: dir, certFile: path.join(dir, 'a.crt'), hostnames: NAMES, now: NOW }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});

describe('data dir', () => {
  const home = '/home/ada';
  it('follows --data, then $OPENIR_CONTROL_PLANE_HOME, then the platform folder', () => {
    const env = { OPENIR_CONTROL_PLANE_HOME: '/srv/cp' };
    expect(resolveDataDir('/x/y', { env, platform: 'linux', home })).toBe(path.resolve('/x/y'));
    expect(resolveDataDir(undefined, { env, platform: 'linux', home })).toBe(path.resolve('/srv/cp'));
    expect(resolveDataDir(undefined, { env: {}, platform: 'linux', home })).toBe(
      '/home/ada/.local/share/openir-control-plane',
    );
  });

  it('uses each platform’s data folder', () => {
    expect(platformDataDir({ env: { XDG_DATA_HOME: '/xdg' }, platform: 'linux', home })).toBe(
      '/xdg/openir-control-plane',
    );
    expect(platformDataDir({ env: {}, platform: 'darwin', home })).toBe(
      '/home/ada/Library/Application Support/OpenIR Control Plane',
    );
    expect(
      platformDataDir({ env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, platform: 'win32', home }),
    ).toBe('C:\\Users\\ada\\AppData\\Roaming\\OpenIR Control Plane');
  });
});

describe('public endpoint', () => {
  it('defaults to the bind address, or the machine name for a wildcard bind', () => {
    expect(defaultPublicEndpoint('127.0.0.1', 8443)).toBe('https://127.0.0.1:8443');
    expect(defaultPublicEndpoint('::1', 8443)).toBe('https://[::1]:8443');
    expect(defaultPublicEndpoint('0.0.0.0', 8443, 'cp1')).toBe('https://cp1:8443');
  });

  it('accepts only https://host:port', () => {
    expect(normalizePublicEndpoint('https://cp.example.com:9443/')).toBe('https://cp.example.com:9443');
    for (const bad of ['http://cp:80', 'https://cp:1/path', 'cp:8443', 'https://u:p@cp:1']) {
      expect(() => normalizePublicEndpoint(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });
});
