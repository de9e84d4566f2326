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

/** Where system roots may be read on this machine. */
const BUNDLE_PATHS = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // SUSE
  '/etc/ssl/cert.pem', // Alpine, macOS (OpenSSL's copy)
];

type GetCaCertificates = (type: 'system' | 'bundled') => string[];

interface StoreRead {
  store: SystemStore;
  certs: X509Certificate[];
}

/**
 * The system's trust stores, read once, read-only: Node's bundled Mozilla
 * roots, the OS store where Node can read it (`tls.getCACertificates`, Node
 * >= 22.15), and the distribution's CA bundle file on Linux.
 */
export class SystemTrust {
  private reads: StoreRead[] | null = null;
  private anchorSet: TrustAnchors | null = null;

  constructor(
    private readonly bundlePaths: string[] = BUNDLE_PATHS,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

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
    const reads: StoreRead[] = [];
    reads.push(
      fromPems('node-bundled', "Node.js bundled roots (Mozilla's CA list)", [...tls.rootCertificates]),
    );
    const getCa = (tls as unknown as { getCACertificates?: GetCaCertificates }).getCACertificates;
    if (typeof getCa === 'function') {
      reads.push(fromPems('os', 'Operating system trust store', getCa('system')));
    } else if (this.platform === 'win32' || this.platform === 'darwin') {
      reads.push(notRead('os', 'Operating system trust store', 'needs Node.js 22.15 or later to read it'));
    }
    if (this.platform !== 'win32') reads.push(this.readBundle());
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
      const read = fromPems('system-bundle', `System CA bundle (${file})`, splitPem(text));
      return read;
    }
    return notRead('system-bundle', 'System CA bundle', `none of ${this.bundlePaths.join(', ')} is readable`);
  }
}

function fromPems(id: string, label: string, pems: string[]): StoreRead {
  const certs: X509Certificate[] = [];
  for (const pem of pems) {
    try {
      certs.push(new X509Certificate(pem));
    } catch {
      // One damaged entry in a system bundle must not hide the others.
    }
  }
  return { store: { id, label, read: true, count: certs.length }, certs };
}

function notRead(id: string, label: string, reason: string): StoreRead {
  return { store: { id, label, read: false, count: 0, reason }, certs: [] };
}
