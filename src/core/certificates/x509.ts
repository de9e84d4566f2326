import type { X509Certificate } from 'node:crypto';

/** Small helpers over Node's X509Certificate shared by the parser, the trust check and the store. */

export function thumbprints(cert: X509Certificate): { thumbprint: string; thumbprintSha256: string } {
  const hex = (fingerprint: string) => fingerprint.replace(/:/g, '').toLowerCase();
  return { thumbprint: hex(cert.fingerprint), thumbprintSha256: hex(cert.fingerprint256) };
}

export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Signed by its own key under its own name. Not `checkIssued(cert)`: OpenSSL's
 * issuer check also wants keyCertSign, which a server certificate rightly lacks.
 */
export function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.subject === cert.issuer && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Node prints names one attribute per line; one line reads better in lists. */
export function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** The last CN of a name as Node prints it (one attribute per line). */
export function commonName(name: string): string | null {
  const cns = name.split('\n').filter((line) => line.startsWith('CN='));
  const last = cns[cns.length - 1];
  return last ? last.slice(3) : null;
}
