import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import forge from 'node-forge';
import { OpenIrError } from '../shared/errors';
import { writeFileAtomic } from './atomicFile';

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what auth keys carry as `Pin=`. */
  pin: string;
  source: 'generated' | 'data-dir' | 'provided';
}

const VALIDITY_YEARS = 5;

export function publicKeyPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * Self-signed, because nodes trust the control plane through the pin in their
 * auth key rather than through a CA. The key pair comes from Node's crypto
 * (native, milliseconds) instead of forge's pure-JS RSA (seconds); forge only
 * builds and signs the certificate.
 */
export function createSelfSignedCertificate(
  hostnames: readonly string[],
  now: Date,
): { keyPem: string; certPem: string } {
  const { privateKey: keyPem, publicKey: publicPem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // Positive, even-length and without a leading zero byte: DER INTEGER rules, which OpenSSL 3 enforces
  // ('0' + 32 hex digits made a padded integer now and then: "asn1 … illegal padding").
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 1) & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now);
  notAfter.setFullYear(notAfter.getFullYear() + VALIDITY_YEARS);
  cert.validity.notAfter = notAfter;
  const names = [...new Set(hostnames.filter((name) => name.length > 0))];
  const subject = [{ name: 'commonName', value: 'OpenIR Control Plane' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

function checkPair(keyPem: string, certPem: string, where: string): void {
  let matches: boolean;
  try {
    matches = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch (cause) {
    throw new OpenIrError('INVALID_INPUT', `The TLS certificate or key in ${where} cannot be read.`, {
      fix: 'Give a PEM certificate with --cert and its unencrypted PEM private key with --key.',
      cause,
    });
  }
  if (!matches) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `The TLS private key in ${where} does not belong to the certificate.`,
      {
        fix: 'Give the private key that was issued with this certificate.',
      },
    );
  }
}

function readPemFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new OpenIrError('INVALID_INPUT', `Cannot read the TLS ${what} file ${file}.`, {
      fix: 'Check the path and that this user may read it.',
      cause,
    });
  }
}

export interface TlsOptions {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
  hostnames: readonly string[];
  now: Date;
}

/** The operator's certificate when given, else the one generated into `<data>/tls` on first start and reused after. */
export function loadOrCreateTls(options: TlsOptions): TlsMaterial {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) {
      throw new OpenIrError('INVALID_INPUT', 'Give both --cert and --key, or neither.', {
        fix: 'Without them the control plane generates and keeps its own self-signed certificate.',
      });
    }
    const certPem = readPemFile(options.certFile, 'certificate');
    const keyPem = readPemFile(options.keyFile, 'private key');
    checkPair(keyPem, certPem, `${options.certFile} / ${options.keyFile}`);
    return { keyPem, certPem, pin: publicKeyPin(certPem), source: 'provided' };
  }
  const dir = path.join(options.dataDir, 'tls');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  // The key is written before the certificate, so a crash in between leaves no cert and we regenerate both.
  if (existsSync(keyFile) && existsSync(certFile)) {
    const keyPem = readFileSync(keyFile, 'utf8');
    const certPem = readFileSync(certFile, 'utf8');
    checkPair(keyPem, certPem, dir);
    return { keyPem, certPem, pin: publicKeyPin(certPem), source: 'data-dir' };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { keyPem, certPem } = createSelfSignedCertificate(options.hostnames, options.now);
  writeFileAtomic(keyFile, keyPem, 0o600);
  writeFileAtomic(certFile, certPem, 0o644);
  return { keyPem, certPem, pin: publicKeyPin(certPem), source: 'generated' };
}
