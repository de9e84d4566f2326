import { createPrivateKey, pbkdf2Sync, X509Certificate, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';
import { forge } from './forge';
import { OpenIrError } from '../../shared/errors';
import { parseDer, toDerBuffer } from './der';
import { pkcs12Sha256KeySync } from './pkcs12Kdf';

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
    // Every count visible without the password, before anything is derived.
    checkPfxIterations(asn);
    // forge >= 1.3.2 also decrypts the legacy RC2/3DES kind that Node's TLS refuses.
    pfx = withNativeDerivation(() => forge().pkcs12.pkcs12FromAsn1(asn, false, password));
  } catch (error) {
    if (error instanceof OpenIrError) throw error;
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

/**
 * The most key-derivation iterations an imported PFX may ask for. A file's
 * count is the attacker's choice and every iteration is CPU the host spends
 * (forge derives in JavaScript): 10,000,000 is 16 times OWASP's 600,000 and
 * far above what any tool writes.
 */
export const PFX_MAX_IMPORT_ITERATIONS = 10_000_000;

const PBE_OIDS = new Set([
  '1.2.840.113549.1.5.12', // PBKDF2 (inside PBES2): its params are SEQUENCE { salt, iterations, ... }
  '1.2.840.113549.1.5.3', // PBES1 (PKCS#5 v1.5)
  '1.2.840.113549.1.5.6',
  '1.2.840.113549.1.5.10',
  '1.2.840.113549.1.5.11',
  '1.2.840.113549.1.12.1.1', // PKCS#12 PBE (RC4, 3DES, RC2)
  '1.2.840.113549.1.12.1.2',
  '1.2.840.113549.1.12.1.3',
  '1.2.840.113549.1.12.1.4',
  '1.2.840.113549.1.12.1.5',
  '1.2.840.113549.1.12.1.6',
]);
const DATA_OID = '1.2.840.113549.1.7.1';

/**
 * Walks the PFX without the password: the MAC's count, and the count of every
 * password-based algorithm in the plain parts (the authenticated safe, the
 * key bags of unencrypted contents, the parameters of encrypted contents).
 */
function checkPfxIterations(pfx: Forge.asn1.Asn1): void {
  const a = forge().asn1;
  const children = (node: Forge.asn1.Asn1): Forge.asn1.Asn1[] =>
    Array.isArray(node.value) ? node.value : [];
  const count = (node: Forge.asn1.Asn1 | undefined): number | null =>
    node &&
    node.type === a.Type.INTEGER &&
    typeof node.value === 'string' &&
    node.tagClass === a.Class.UNIVERSAL
      ? Number.parseInt(forge().util.bytesToHex(node.value) || '0', 16)
      : null;
  const refuse = (n: number | null) => {
    if (n !== null && n > PFX_MAX_IMPORT_ITERATIONS) throw tooManyIterations(n);
  };
  // MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
  const macData = children(pfx)[2];
  if (macData) refuse(count(children(macData)[2]));
  const walk = (node: Forge.asn1.Asn1, depth: number): void => {
    if (depth > 24) return;
    const items = children(node);
    const first = items[0];
    if (first && first.type === a.Type.OID && typeof first.value === 'string') {
      const id = a.derToOid(first.value);
      const params = items[1];
      // AlgorithmIdentifier of a password-based scheme: the count is the params' second element.
      if (PBE_OIDS.has(id) && params) refuse(count(children(params)[1]));
      // ContentInfo of type data: its content is DER inside an OCTET STRING.
      if (id === DATA_OID && params) {
        const octets = children(params)[0];
        if (octets && typeof octets.value === 'string') {
          try {
            walk(a.fromDer(octets.value, false), depth + 1);
          } catch (error) {
            if (error instanceof OpenIrError) throw error;
            // Not DER: forge says what is wrong with it below.
          }
        }
      }
    }
    for (const child of items) walk(child, depth + 1);
  };
  walk(pfx, 0);
}

/**
 * Runs forge's PFX parse with its key derivations swapped for native ones,
 * each refusing a count over the cap. forge derives in JavaScript: a PFX at
 * OWASP's 600,000 iterations (what OpenIR exports) took over 10 s to open.
 * PBKDF2 becomes Node's, with the password as UTF-8 as OpenSSL uses it (forge
 * would take the low byte of each character); the SHA-256 PKCS#12 MAC key
 * becomes pkcs12Kdf.ts's loop. Other PKCS#12 derivations (legacy SHA-1
 * files, at their small counts) stay forge's. Counts hidden inside encrypted
 * contents are only known while parsing, so the cap is checked here too. The
 * parse is synchronous, so the swap covers exactly this call.
 */
function withNativeDerivation<T>(parse: () => T): T {
  const f = forge();
  const pbkdf2 = f.pkcs5.pbkdf2;
  const pkcs12Key = f.pkcs12.generateKey;
  // Untyped in @types/node-forge, but the function PKCS#12 PBE decryption calls.
  const pbe = (f.pki as unknown as { pbe: { generatePkcs12Key: (...args: unknown[]) => unknown } }).pbe;
  const pbeKey = pbe.generatePkcs12Key;
  const cap = (n: unknown) => {
    if (Number(n) > PFX_MAX_IMPORT_ITERATIONS) throw tooManyIterations(Number(n));
  };
  const mdName = (md: unknown) =>
    typeof md === 'string' ? md : ((md as { algorithm?: string } | undefined)?.algorithm ?? 'sha1');
  f.pkcs5.pbkdf2 = ((password: string, salt: string, count: number, length: number, md?: unknown) => {
    cap(count);
    return pbkdf2Sync(
      Buffer.from(password, 'utf8'),
      Buffer.from(salt, 'binary'),
      count,
      length,
      mdName(md),
    ).toString('binary');
  }) as typeof pbkdf2;
  f.pkcs12.generateKey = ((
    password: string | null,
    salt: Forge.util.ByteBuffer,
    id: number,
    count: number,
    length: number,
    md?: unknown,
  ) => {
    cap(count);
    if (password !== null && mdName(md) === 'sha256' && length <= 32) {
      const key = pkcs12Sha256KeySync(password, Buffer.from(salt.bytes(), 'binary'), count, id);
      return f.util.createBuffer(key.subarray(0, length).toString('binary'));
    }
    return pkcs12Key(password as string, salt, id, count, length, md as Forge.md.MessageDigest);
  }) as typeof pkcs12Key;
  pbe.generatePkcs12Key = (...args: unknown[]) => {
    cap(args[3]);
    return pbeKey(...args);
  };
  try {
    return parse();
  } finally {
    f.pkcs5.pbkdf2 = pbkdf2;
    f.pkcs12.generateKey = pkcs12Key;
    pbe.generatePkcs12Key = pbeKey;
  }
}

function tooManyIterations(n: number): OpenIrError {
  return new OpenIrError(
    'PFX_ITERATIONS_TOO_HIGH',
    `The PFX/PKCS#12 file asks for ${n.toLocaleString('en-US')} key-derivation iterations; OpenIR runs at most ${PFX_MAX_IMPORT_ITERATIONS.toLocaleString('en-US')}.`,
    {
      fix: 'Export the certificate again with a usual iteration count (for example `openssl pkcs12 -export -iter 600000`), or import it as PEM.',
    },
  );
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
