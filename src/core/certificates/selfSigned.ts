import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import net from 'node:net';
import type Forge from 'node-forge';
import { forge } from './forge';
import { parseDer, toDerBuffer } from './der';

/**
 * Builds a self-signed server certificate without OpenSSL: Node makes the key
 * (RSA or EC; forge only knows RSA), we assemble the TBSCertificate with
 * forge's ASN.1 encoder and sign it with Node's crypto.
 */

type Asn1 = Forge.asn1.Asn1;
const U = forge().asn1.Class.UNIVERSAL;
const T = forge().asn1.Type;

export type SelfSignedKeyType = 'rsa2048' | 'p256';

export interface SelfSignedOptions {
  /** DNS names (and IP addresses) for the Subject Alternative Names; the first is also the CN. */
  names: string[];
  days: number;
  keyType: SelfSignedKeyType;
  now: Date;
}

export interface SelfSigned {
  cert: X509Certificate;
  key: KeyObject;
}

const OID = {
  sha256WithRSA: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

export function createSelfSigned(options: SelfSignedOptions): SelfSigned {
  const { publicKey, privateKey } =
    options.keyType === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsa = options.keyType === 'rsa2048';
  const signatureAlgorithm = seq([
    oid(rsa ? OID.sha256WithRSA : OID.ecdsaWithSHA256),
    // RSA's AlgorithmIdentifier carries NULL parameters; ECDSA's must omit them (RFC 5758).
    ...(rsa ? [forge().asn1.create(U, T.NULL, false, '')] : []),
  ]);
  const name = seq([
    forge().asn1.create(U, T.SET, true, [seq([oid(OID.commonName), utf8(options.names[0] ?? 'localhost')])]),
    forge().asn1.create(U, T.SET, true, [seq([oid(OID.organization), utf8('OpenIR self-signed')])]),
  ]);
  // Backdated a little so a peer whose clock runs slightly behind still accepts it.
  const notBefore = new Date(options.now.getTime() - 5 * 60_000);
  const notAfter = new Date(options.now.getTime() + options.days * 86_400_000);
  const spki = parseDer(publicKey.export({ type: 'spki', format: 'der' }));
  const spkiBits = Array.isArray(spki.value) ? spki.value[1] : undefined;
  // The key identifier is the SHA-1 of the public key bits, without the unused-bits byte (RFC 5280 4.2.1.2).
  const keyBits = spkiBits && typeof spkiBits.value === 'string' ? spkiBits.value.slice(1) : '';

  const tbs = seq([
    forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      forge().asn1.create(U, T.INTEGER, false, '\x02'),
    ]),
    forge().asn1.create(U, T.INTEGER, false, serialNumber()),
    signatureAlgorithm,
    name,
    seq([time(notBefore), time(notAfter)]),
    name,
    spki,
    forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 3, true, [
      seq([
        extension(OID.basicConstraints, true, seq([])),
        // RSA servers may use either key exchange; EC keys only sign (ECDHE).
        extension(OID.keyUsage, true, bitString(rsa ? 0xa0 : 0x80, rsa ? 5 : 7)),
        extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth)])),
        extension(OID.subjectAltName, false, seq(options.names.map(generalName))),
        extension(
          OID.subjectKeyIdentifier,
          false,
          forge().asn1.create(
            U,
            T.OCTETSTRING,
            false,
            createHash('sha1').update(Buffer.from(keyBits, 'binary')).digest().toString('binary'),
          ),
        ),
      ]),
    ]),
  ]);
  const tbsDer = toDerBuffer(tbs);
  const signature = sign('sha256', tbsDer, privateKey);
  const certificate = seq([tbs, signatureAlgorithm, bitStringBytes(signature)]);
  return { cert: new X509Certificate(toDerBuffer(certificate)), key: privateKey };
}

function generalName(name: string): Asn1 {
  const ip = net.isIP(name);
  if (ip === 4) return forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 7, false, ipv4Bytes(name));
  if (ip === 6) return forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 7, false, ipv6Bytes(name));
  return forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 2, false, name);
}

function ipv4Bytes(ip: string): string {
  return Buffer.from(ip.split('.').map(Number)).toString('binary');
}

function ipv6Bytes(ip: string): string {
  const [head = '', tail = ''] = ip.split('::');
  const parts = (text: string) => (text ? text.split(':') : []);
  const h = parts(head);
  const t = ip.includes('::') ? parts(tail) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const buffer = Buffer.alloc(16);
  groups.forEach((g, i) => buffer.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return buffer.toString('binary');
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  // Positive and without a leading zero byte, as DER INTEGER rules want.
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x40;
  return bytes.toString('binary');
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  return seq([
    oid(id),
    ...(critical ? [forge().asn1.create(U, T.BOOLEAN, false, '\xff')] : []),
    forge().asn1.create(U, T.OCTETSTRING, false, forge().asn1.toDer(value).getBytes()),
  ]);
}

function bitString(byte: number, unusedBits: number): Asn1 {
  return forge().asn1.create(U, T.BITSTRING, false, String.fromCharCode(unusedBits, byte));
}

function bitStringBytes(bytes: Buffer): Asn1 {
  return forge().asn1.create(U, T.BITSTRING, false, `\x00${bytes.toString('binary')}`);
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Asn1 {
  return date.getUTCFullYear() < 2050
    ? forge().asn1.create(U, T.UTCTIME, false, forge().asn1.dateToUtcTime(date))
    : forge().asn1.create(U, T.GENERALIZEDTIME, false, forge().asn1.dateToGeneralizedTime(date));
}

function seq(items: Asn1[]): Asn1 {
  return forge().asn1.create(U, T.SEQUENCE, true, items);
}

function oid(id: string): Asn1 {
  return forge().asn1.create(U, T.OID, false, forge().asn1.oidToDer(id).getBytes());
}

function utf8(text: string): Asn1 {
  return forge().asn1.create(U, T.UTF8, false, forge().util.encodeUtf8(text));
}
