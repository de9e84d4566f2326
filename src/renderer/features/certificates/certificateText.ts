import type { CertificateInfo, CertificateKey, CertificateProblem } from '../../../shared/certificates';

/** Certificates in words: key, short thumbprint, subject name, PEM file name, the problems that block. */

/** Every problem blocks remote access except UNTRUSTED: the other nodes install the certificate instead. */
export function blockingProblems(cert: Pick<CertificateInfo, 'problems'>): CertificateProblem[] {
  return cert.problems.filter((problem) => problem.code !== 'UNTRUSTED');
}

export function isUsable(cert: Pick<CertificateInfo, 'problems'>): boolean {
  return blockingProblems(cert).length === 0;
}

/** "RSA 2048", "EC P-256", "ed25519". */
export function keyText(key: CertificateKey): string {
  if (key.type === 'rsa') return key.bits ? `RSA ${key.bits}` : 'RSA';
  if (key.type === 'ec') return `EC ${key.curve ?? ''}`.trim();
  return key.algorithm ?? 'Other';
}

/** The first 8 and last 4 hex digits, grouped; the full value goes in a title and the visually hidden text. */
export function shortThumbprint(thumbprint: string): string {
  return `${thumbprint.slice(0, 8)}…${thumbprint.slice(-4)}`.toUpperCase();
}

/** "CN=ra-node.openir.test, O=…" → "ra-node.openir.test"; else the subject as is. */
export function subjectName(subject: string): string {
  const cn = /(?:^|[,\n/]\s*)CN=([^,\n/]+)/.exec(subject);
  return cn?.[1]?.trim() || subject || '(no subject)';
}

/** The file name an exported PEM is saved as. */
export function pemFileName(cert: Pick<CertificateInfo, 'subject' | 'thumbprint'>): string {
  const base = subjectName(cert.subject)
    .replace(/[^A-Za-z0-9.-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '');
  return `${base || 'certificate'}-${cert.thumbprint.slice(0, 8)}.pem`;
}
