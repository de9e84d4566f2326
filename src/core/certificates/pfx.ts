import {
  createCipheriv,
  createHash,
  createHmac,
  pbkdf2,
  randomBytes,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import type Forge from 'node-forge';
import { forge } from './forge';
import { toDerBuffer } from './der';
import { pkcs12Sha256Key } from './pkcs12Kdf';

/**
 * Writes a PFX/PKCS#12 for any key type. forge's own writer only takes RSA
 * keys and certificates, so we assemble the same structure from a PKCS#8 key:
 * the key shrouded with PBES2/AES-256-CBC (PBKDF2-HMAC-SHA256), the
 * certificates in plain bags, and a SHA-256 MAC over everything, which
 * OpenSSL 3, Windows (10 1709 and later) and macOS all read.
 *
 * Both the key's PBKDF2 and the MAC's PKCS#12 KDF run 600,000 iterations
 * (OWASP's figure for PBKDF2-SHA256): the MAC too, or a password could be
 * guessed against it at a fraction of the cost. forge builds the ASN.1 only;
 * the derivations and the cipher are Node's (forge's PBKDF2 took 10.7 s at
 * this count), and no openssl binary is needed.
 */

type Asn1 = Forge.asn1.Asn1;
const U = forge().asn1.Class.UNIVERSAL;
const T = forge().asn1.Type;
export const PFX_EXPORT_ITERATIONS = 600_000;
const pbkdf2Async = promisify(pbkdf2);
/** The PKCS#9/#12 object identifiers used here, spelled out (forge's table is typed as optional). */
const OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  data: '1.2.840.113549.1.7.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  certBag: '1.2.840.113549.1.12.10.1.3',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
};

export async function buildPfx(
  key: KeyObject,
  certs: X509Certificate[],
  password: string,
  friendlyName?: string,
  iterations = PFX_EXPORT_ITERATIONS,
): Promise<Buffer> {
  const leaf = certs[0];
  const localKeyId = leaf ? createHash('sha1').update(leaf.raw).digest().toString('binary') : '';
  const attributes = forge().asn1.create(U, T.SET, true, [
    seq([oid(OID.localKeyId), forge().asn1.create(U, T.SET, true, [octets(localKeyId)])]),
    ...(friendlyName
      ? [
          seq([
            oid(OID.friendlyName),
            forge().asn1.create(U, T.SET, true, [forge().asn1.create(U, T.BMPSTRING, false, friendlyName)]),
          ]),
        ]
      : []),
  ]);

  const certBags = certs.map((cert, i) =>
    seq([
      oid(OID.certBag),
      explicit0([seq([oid(OID.x509Certificate), explicit0([octets(cert.raw.toString('binary'))])])]),
      ...(i === 0 ? [attributes] : []),
    ]),
  );
  const keyBag = seq([
    oid(OID.pkcs8ShroudedKeyBag),
    explicit0([
      await encryptPrivateKeyInfo(key.export({ type: 'pkcs8', format: 'der' }), password, iterations),
    ]),
    attributes,
  ]);
  const safe = seq([dataContent(seq(certBags)), dataContent(seq([keyBag]))]);
  const safeDer = forge().asn1.toDer(safe).getBytes();

  const salt = randomBytes(16);
  const macKey = await pkcs12Sha256Key(password, salt, iterations);
  const mac = createHmac('sha256', macKey).update(Buffer.from(safeDer, 'binary')).digest();
  const macData = seq([
    seq([seq([oid(OID.sha256), forge().asn1.create(U, T.NULL, false, '')]), octets(mac.toString('binary'))]),
    octets(salt.toString('binary')),
    integer(iterations),
  ]);
  const pfx = seq([integer(3), seq([oid(OID.data), explicit0([octets(safeDer)])]), macData]);
  return toDerBuffer(pfx);
}

/**
 * EncryptedPrivateKeyInfo (RFC 5208) under PBES2 (RFC 8018): PBKDF2 with
 * HMAC-SHA256 and an AES-256-CBC key, the password as UTF-8 bytes, as OpenSSL
 * writes it.
 */
async function encryptPrivateKeyInfo(pkcs8: Buffer, password: string, iterations: number): Promise<Asn1> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const derived = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', derived, iv);
  const encrypted = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
  return seq([
    seq([
      oid(OID.pbes2),
      seq([
        seq([
          oid(OID.pbkdf2),
          seq([
            octets(salt.toString('binary')),
            integer(iterations),
            integer(32),
            seq([oid(OID.hmacWithSha256), forge().asn1.create(U, T.NULL, false, '')]),
          ]),
        ]),
        seq([oid(OID.aes256Cbc), octets(iv.toString('binary'))]),
      ]),
    ]),
    octets(encrypted.toString('binary')),
  ]);
}

function integer(value: number): Asn1 {
  return forge().asn1.create(U, T.INTEGER, false, forge().asn1.integerToDer(value).getBytes());
}

function dataContent(contents: Asn1): Asn1 {
  return seq([oid(OID.data), explicit0([octets(forge().asn1.toDer(contents).getBytes())])]);
}

function explicit0(items: Asn1[]): Asn1 {
  return forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 0, true, items);
}

function octets(bytes: string): Asn1 {
  return forge().asn1.create(U, T.OCTETSTRING, false, bytes);
}

function seq(items: Asn1[]): Asn1 {
  return forge().asn1.create(U, T.SEQUENCE, true, items);
}

function oid(id: string): Asn1 {
  return forge().asn1.create(U, T.OID, false, forge().asn1.oidToDer(id).getBytes());
}
