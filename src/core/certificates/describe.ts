import type { KeyObject, X509Certificate } from 'node:crypto';
import {
  checkCertificateRequirements,
  type CertificateFacts,
  type CertificateInfo,
  type CertificateKey,
} from '../../shared/certificates';
import { readDerFacts } from './der';
import type { ParsedCertificate } from './parse';
import { chainsToAnchor, type TrustAnchors } from './trust';
import { commonName, isSelfSigned, oneLine, thumbprints } from './x509';

export interface DescribeContext {
  fqdn: string;
  otherFqdns?: string[];
  now: Date;
  /** Roots to check the chain against; trust is not checked when absent. */
  anchors?: TrustAnchors;
  /** Intermediates known besides those in the file (e.g. stored with the certificate). */
  intermediates?: X509Certificate[];
}

/** Everything a face shows about one certificate, the requirement check included. */
export function describeCertificate(parsed: ParsedCertificate, context: DescribeContext): CertificateInfo {
  const { leaf } = parsed;
  const der = readDerFacts(leaf.raw);
  const selfSigned = isSelfSigned(leaf);
  const trusted = context.anchors
    ? chainsToAnchor(leaf, [...parsed.chain, ...(context.intermediates ?? [])], context.anchors)
    : null;
  const key = keyOf(leaf.publicKey);
  const facts: CertificateFacts = {
    version: der.version,
    hasPrivateKey: parsed.key !== null,
    privateKeyMismatch: parsed.keyMismatch,
    notBefore: der.notBefore.toISOString(),
    notAfter: der.notAfter.toISOString(),
    sanDns: der.sanDns,
    sanIps: der.sanIps,
    subjectCn: commonName(leaf.subject),
    key,
    keyUsage: der.keyUsage,
    extKeyUsage: der.extKeyUsage,
    trusted,
    selfSigned,
  };
  const { problems, warnings } = checkCertificateRequirements(facts, {
    fqdn: context.fqdn,
    ...(context.otherFqdns ? { otherFqdns: context.otherFqdns } : {}),
    now: context.now,
  });
  return {
    ...thumbprints(leaf),
    version: der.version,
    serialNumber: leaf.serialNumber.toLowerCase(),
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    san: [...der.sanDns, ...der.sanIps],
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    key,
    hasPrivateKey: facts.hasPrivateKey,
    selfSigned,
    trusted,
    problems,
    warnings,
  };
}

const CURVE_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

export function keyOf(publicKey: KeyObject): CertificateKey {
  const type = publicKey.asymmetricKeyType ?? 'unknown';
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    return details.modulusLength ? { type: 'rsa', bits: details.modulusLength } : { type: 'rsa' };
  }
  if (type === 'ec') {
    const curve = details.namedCurve ? (CURVE_NAMES[details.namedCurve] ?? details.namedCurve) : undefined;
    const bits = curve === 'P-256' ? 256 : curve === 'P-384' ? 384 : curve === 'P-521' ? 521 : undefined;
    return { type: 'ec', ...(curve ? { curve } : {}), ...(bits ? { bits } : {}) };
  }
  return { type: 'other', algorithm: type };
}
