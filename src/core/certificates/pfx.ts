import { createHash, randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import type Forge from 'node-forge';
import { forge } from './forge';
import { parseDer, toDerBuffer } from './der';

/**
 * Writes a PFX/PKCS#12 for any key type. forge's own writer only takes RSA
 * keys and certificates, so we assemble the same structure from a PKCS#8 key:
 * the key shrouded with PBES2/AES-256 (PBKDF2-SHA256), the certificates in
 * plain bags, and a SHA-256 MAC over everything, which OpenSSL 3, Windows
 * (10 1709 and later) and macOS all read.
 */

type Asn1 = Forge.asn1.Asn1;
const U = forge().asn1.Class.UNIVERSAL;
const T = forge().asn1.Type;
const ITERATIONS = 10_000;
/** The PKCS#9/#12 object identifiers used here, spelled out (forge's table is typed as optional). */
const OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  data: '1.2.840.113549.1.7.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  certBag: '1.2.840.113549.1.12.10.1.3',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
};

export function buildPfx(
  key: KeyObject,
  certs: X509Certificate[],
  password: string,
  friendlyName?: string,
): Buffer {
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
  const privateKeyInfo = parseDer(key.export({ type: 'pkcs8', format: 'der' }));
  const keyBag = seq([
    oid(OID.pkcs8ShroudedKeyBag),
    explicit0([
      forge().pki.encryptPrivateKeyInfo(privateKeyInfo, password, {
        algorithm: 'aes256',
        count: ITERATIONS,
        prfAlgorithm: 'sha256',
      }),
    ]),
    attributes,
  ]);
  const safe = seq([dataContent(seq(certBags)), dataContent(seq([keyBag]))]);
  const safeDer = forge().asn1.toDer(safe).getBytes();

  const salt = randomBytes(16).toString('binary');
  const macKey = forge().pkcs12.generateKey(
    password,
    forge().util.createBuffer(salt),
    3,
    ITERATIONS,
    32,
    forge().md.sha256.create(),
  );
  const hmac = forge().hmac.create();
  hmac.start('sha256', macKey.getBytes());
  hmac.update(safeDer);
  const macData = seq([
    seq([
      seq([oid(OID.sha256), forge().asn1.create(U, T.NULL, false, '')]),
      octets(hmac.digest().getBytes()),
    ]),
    octets(salt),
    forge().asn1.create(U, T.INTEGER, false, forge().asn1.integerToDer(ITERATIONS).getBytes()),
  ]);
  const pfx = seq([
    forge().asn1.create(U, T.INTEGER, false, forge().asn1.integerToDer(3).getBytes()),
    seq([oid(OID.data), explicit0([octets(safeDer)])]),
    macData,
  ]);
  return toDerBuffer(pfx);
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
