import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';
import { forge } from './forge';
import { OpenIrError } from '../../shared/errors';
import { parseDer, toDerBuffer } from './der';

/** A certificate file as read: the leaf, the other certificates it carried, and its key if any. */
export interface ParsedCertificate {
  format: 'pem' | 'der' | 'pfx';
  leaf: X509Certificate;
  /** Intermediates (or anything else) that came in the same file. */
  chain: X509Certificate[];
  key: KeyObject | null;
  /** A key came with the file but belongs to none of its certificates. */
  keyMismatch: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Reads PEM (certificates and key, possibly encrypted), DER, or PFX/PKCS#12 (modern or legacy). */
export function parseCertificateFile(content: Uint8Array, password?: string): ParsedCertificate {
  const buffer = Buffer.from(content);
  const text = buffer.toString('latin1');
  if (text.includes('-----BEGIN ')) return parsePem(text, password);
  if (looksLikePfx(buffer)) return parsePfx(buffer, password ?? '');
  try {
    const leaf = new X509Certificate(buffer);
    return { format: 'der', leaf, chain: [], key: null, keyMismatch: false };
  } catch (error) {
    throw unreadable('The file is not a certificate OpenIR can read (PEM, DER or PFX/PKCS#12).', error);
  }
}

function parsePem(text: string, password: string | undefined): ParsedCertificate {
  const certs: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const [block, label] = match;
    if (label === 'CERTIFICATE') {
      try {
        certs.push(new X509Certificate(block));
      } catch (error) {
        throw unreadable('A certificate in the PEM file is damaged.', error);
      }
    } else if (label && /PRIVATE KEY$/.test(label)) {
      keys.push(readPemKey(block, label, password));
    }
  }
  if (certs.length === 0) {
    throw unreadable(
      keys.length > 0
        ? 'The PEM file holds a private key but no certificate.'
        : 'The PEM file holds no certificate.',
    );
  }
  return assemble('pem', certs, keys);
}

function readPemKey(block: string, label: string, password: string | undefined): KeyObject {
  const encrypted = label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block);
  if (encrypted && !password) {
    throw new OpenIrError('BAD_PASSWORD', 'The private key in the PEM file is encrypted with a password.', {
      fix: 'Give its password on standard input (--password-stdin).',
    });
  }
  try {
    return createPrivateKey(encrypted ? { key: block, format: 'pem', passphrase: password } : block);
  } catch (error) {
    if (encrypted) throw badPassword('The password does not decrypt the private key in the PEM file.', error);
    throw unreadable('The private key in the PEM file is damaged or of an unknown kind.', error);
  }
}

/** PFX is a SEQUENCE starting with INTEGER 3; checked before trying it as a DER certificate. */
function looksLikePfx(buffer: Buffer): boolean {
  try {
    const top = parseDer(buffer);
    const first = Array.isArray(top.value) ? top.value[0] : undefined;
    return (
      first !== undefined &&
      first.type === forge().asn1.Type.INTEGER &&
      typeof first.value === 'string' &&
      forge().asn1.derToInteger(first.value) === 3
    );
  } catch {
    return false;
  }
}

function parsePfx(buffer: Buffer, password: string): ParsedCertificate {
  let pfx: Forge.pkcs12.Pkcs12Pfx;
  try {
    const asn = forge().asn1.fromDer(buffer.toString('binary'), false);
    // forge >= 1.3.2 also decrypts the legacy RC2/3DES kind that Node's TLS refuses.
    pfx = forge().pkcs12.pkcs12FromAsn1(asn, false, password);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/MAC could not be verified|wrong password|Invalid password/i.test(message)) {
      throw badPassword('The password is wrong for this PFX/PKCS#12 file.', error);
    }
    throw unreadable('The PFX/PKCS#12 file is damaged or uses an algorithm OpenIR cannot read.', error);
  }
  const certs: X509Certificate[] = [];
  const keys: KeyObject[] = [];
  try {
    for (const bag of pfx.safeContents.flatMap((contents) => contents.safeBags)) {
      if (bag.cert) certs.push(new X509Certificate(toDerBuffer(forge().pki.certificateToAsn1(bag.cert))));
      else if (bag.key) keys.push(createPrivateKey(forge().pki.privateKeyToPem(bag.key)));
      else if (bag.type === forge().pki.oids.certBag) certs.push(new X509Certificate(toDerBuffer(bag.asn1)));
      // forge leaves non-RSA keys as a decrypted PrivateKeyInfo, which Node reads as PKCS#8.
      else if (bag.asn1)
        keys.push(createPrivateKey({ key: toDerBuffer(bag.asn1), format: 'der', type: 'pkcs8' }));
    }
  } catch (error) {
    throw unreadable('An entry in the PFX/PKCS#12 file is damaged.', error);
  }
  if (certs.length === 0) throw unreadable('The PFX/PKCS#12 file holds no certificate.');
  return assemble('pfx', certs, keys);
}

/** Picks the leaf: the certificate the key belongs to, else the one that issued none of the others. */
function assemble(
  format: ParsedCertificate['format'],
  certs: X509Certificate[],
  keys: KeyObject[],
): ParsedCertificate {
  for (const key of keys) {
    const leaf = certs.find((cert) => cert.checkPrivateKey(key));
    if (leaf) return { format, leaf, chain: certs.filter((c) => c !== leaf), key, keyMismatch: false };
  }
  const leaf =
    certs.find((cert) => !certs.some((other) => other !== cert && other.checkIssued(cert))) ?? certs[0];
  if (!leaf) throw unreadable('No certificate found.');
  return { format, leaf, chain: certs.filter((c) => c !== leaf), key: null, keyMismatch: keys.length > 0 };
}

function unreadable(message: string, cause?: unknown): OpenIrError {
  return new OpenIrError('UNREADABLE', message, {
    fix: 'Choose a PFX/PKCS#12 (.pfx, .p12) or PEM (.pem, .crt, .cer) certificate file.',
    cause,
  });
}

function badPassword(message: string, cause: unknown): OpenIrError {
  return new OpenIrError('BAD_PASSWORD', message, {
    fix: 'Give the password the file was exported with, on standard input (--password-stdin).',
    cause,
  });
}
