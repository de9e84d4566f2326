import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type { SystemCertificate, SystemStore } from '../../shared/certificates';
import { issuedBy, oneLine, splitPem, thumbprints } from './x509';

/** Certificates trusted as roots, indexed by subject so issuers are found without trying every root. */
export class TrustAnchors {
  private readonly bySubject = new Map<string, X509Certificate[]>();
  private readonly fingerprints = new Set<string>();

  constructor(certs: Iterable<X509Certificate> = []) {
    for (const cert of certs) this.add(cert);
  }

  add(cert: X509Certificate): void {
    if (this.fingerprints.has(cert.fingerprint256)) return;
    this.fingerprints.add(cert.fingerprint256);
    const list = this.bySubject.get(cert.subject) ?? [];
    list.push(cert);
    this.bySubject.set(cert.subject, list);
  }

  with(extra: Iterable<X509Certificate>): TrustAnchors {
    const merged = new TrustAnchors();
    for (const list of this.bySubject.values()) for (const cert of list) merged.add(cert);
    for (const cert of extra) merged.add(cert);
    return merged;
  }

  contains(cert: X509Certificate): boolean {
    return this.fingerprints.has(cert.fingerprint256);
  }

  issuerOf(cert: X509Certificate): X509Certificate | undefined {
    return (this.bySubject.get(cert.issuer) ?? []).find((ca) => issuedBy(cert, ca));
  }
}

/** True when the leaf chains, through the given intermediates, to one of the anchors. */
export function chainsToAnchor(
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  anchors: TrustAnchors,
): boolean {
  let current = leaf;
  const used = new Set<string>([leaf.fingerprint256]);
  // Real chains are 2 to 4 long; the bound stops loops in a hostile bundle.
  for (let depth = 0; depth < 8; depth += 1) {
    if (anchors.contains(current) || anchors.issuerOf(current)) return true;
    const next = intermediates.find((c) => !used.has(c.fingerprint256) && issuedBy(current, c));
    if (!next) return false;
    used.add(next.fingerprint256);
    current = next;
  }
  return false;
}

/** Where a Node without `tls.getCACertificates` finds the roots on Linux (Node 22.12–22.14). */
const BUNDLE_PATHS = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // SUSE
  '/etc/ssl/cert.pem', // Alpine, macOS (OpenSSL's copy)
];

/** `tls.getCACertificates` (Node >= 22.15): 'system' is the OS store on every platform. */
export type GetCaCertificates = (type: 'system' | 'bundled') => string[];

interface StoreRead {
  store: SystemStore;
  certs: X509Certificate[];
}

export interface SystemTrustOptions {
  platform?: NodeJS.Platform;
  /** Absent on Node 22.12–22.14: the CA bundle files are read instead on Linux. */
  getCaCertificates?: GetCaCertificates | undefined;
  env?: NodeJS.ProcessEnv;
  bundlePaths?: string[];
}

/**
 * The system's trust stores, read once, read-only: Node's bundled Mozilla
 * roots and the operating system's own store, which `tls.getCACertificates`
 * reads on every platform (the Windows certificate store, the macOS
 * Keychain, OpenSSL's default file and folder on Linux). Each store says
 * whether it was read and, if not, why.
 */
export class SystemTrust {
  private reads: StoreRead[] | null = null;
  private anchorSet: TrustAnchors | null = null;
  private readonly platform: NodeJS.Platform;
  private readonly getCa: GetCaCertificates | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly bundlePaths: string[];

  constructor(options: SystemTrustOptions = {}) {
    this.platform = options.platform ?? process.platform;
    this.getCa = 'getCaCertificates' in options ? options.getCaCertificates : nodeGetCaCertificates();
    this.env = options.env ?? process.env;
    this.bundlePaths = options.bundlePaths ?? BUNDLE_PATHS;
  }

  anchors(): TrustAnchors {
    this.anchorSet ??= new TrustAnchors(this.read().flatMap((r) => r.certs));
    return this.anchorSet;
  }

  list(): { stores: SystemStore[]; certificates: SystemCertificate[] } {
    const reads = this.read();
    return {
      stores: reads.map((r) => r.store),
      certificates: reads.flatMap((r) =>
        r.certs.map((cert) => ({
          ...thumbprints(cert),
          subject: oneLine(cert.subject),
          issuer: oneLine(cert.issuer),
          notAfter: new Date(cert.validTo).toISOString(),
          store: r.store.id,
        })),
      ),
    };
  }

  private read(): StoreRead[] {
    if (this.reads) return this.reads;
    const getCa = this.getCa;
    const bundled = getCa ? getCa('bundled') : [...tls.rootCertificates];
    const reads: StoreRead[] = [
      fromPems('node-bundled', "Node.js bundled roots (Mozilla's CA list)", bundled),
    ];
    const label = osStoreLabel(this.platform, this.env);
    if (getCa) {
      let pems: string[] | null = null;
      let failure = '';
      try {
        pems = getCa('system');
      } catch (error) {
        failure = (error as Error).message;
      }
      reads.push(
        pems ? fromPems('os', label, pems) : notRead('os', label, `it could not be read: ${failure}`),
      );
    } else if (this.platform === 'linux') {
      reads.push(this.readBundle());
    } else {
      reads.push(notRead('os', label, 'it needs Node.js 22.15 or later'));
    }
    this.reads = reads;
    return reads;
  }

  private readBundle(): StoreRead {
    for (const file of this.bundlePaths) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      return fromPems('os', `System CA bundle (${file})`, splitPem(text));
    }
    return notRead('os', 'System CA bundle', `none of ${this.bundlePaths.join(', ')} is readable`);
  }
}

function nodeGetCaCertificates(): GetCaCertificates | undefined {
  const getCa = (tls as { getCACertificates?: GetCaCertificates }).getCACertificates;
  return typeof getCa === 'function' ? getCa.bind(tls) : undefined;
}

/** What the OS store is called where the user would look for it. */
export function osStoreLabel(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string {
  if (platform === 'win32') return 'Windows certificate store (Trusted Root Certification Authorities)';
  if (platform === 'darwin') return 'macOS Keychain (system roots and trust settings)';
  // OpenSSL's defaults, which these variables override, as they do for every OpenSSL program here.
  const where = [env.SSL_CERT_FILE, env.SSL_CERT_DIR].filter(Boolean).join(', ') || '/etc/ssl/certs';
  return `Operating system trust store (${where})`;
}

function fromPems(id: string, label: string, pems: string[]): StoreRead {
  const certs: X509Certificate[] = [];
  // OpenSSL's folder holds each root under more than one name (hash links): count each certificate once.
  const seen = new Set<string>();
  for (const pem of pems) {
    try {
      const cert = new X509Certificate(pem);
      if (seen.has(cert.fingerprint256)) continue;
      seen.add(cert.fingerprint256);
      certs.push(cert);
    } catch {
      // One damaged entry in a system bundle must not hide the others.
    }
  }
  return { store: { id, label, read: true, count: certs.length }, certs };
}

function notRead(id: string, label: string, reason: string): StoreRead {
  return { store: { id, label, read: false, count: 0, reason }, certs: [] };
}
