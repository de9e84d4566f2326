import type Forge from 'node-forge';
import { forge } from './forge';

/**
 * Reads what Node's X509Certificate does not expose (version, key usage bits,
 * extended key usage, SANs as typed entries) straight from the DER. forge's
 * certificate parser only knows RSA keys, so we walk the ASN.1 ourselves.
 */

type Asn1 = Forge.asn1.Asn1;

/** forge accepts an options object here; its types only declare `strict`. */
const fromDerWithOptions = (bytes: string, options: { strict?: boolean; decodeBitStrings?: boolean }): Asn1 =>
  (forge().asn1.fromDer as unknown as (b: string, o: typeof options) => Asn1)(bytes, options);

export function parseDer(der: Uint8Array): Asn1 {
  // Bit strings stay raw: key usage bits must not be mistaken for nested ASN.1.
  return fromDerWithOptions(Buffer.from(der).toString('binary'), { strict: true, decodeBitStrings: false });
}

export function toDerBuffer(obj: Asn1): Buffer {
  return Buffer.from(forge().asn1.toDer(obj).getBytes(), 'binary');
}

export interface DerFacts {
  version: number;
  notBefore: Date;
  notAfter: Date;
  sanDns: string[];
  sanIps: string[];
  keyUsage: string[] | undefined;
  extKeyUsage: string[] | undefined;
}

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

const OID_SAN = '2.5.29.17';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';

export function readDerFacts(der: Uint8Array): DerFacts {
  const cert = parseDer(der);
  const tbs = children(cert)[0];
  if (!tbs) throw new Error('no TBSCertificate');
  const fields = children(tbs);
  let i = 0;
  let version = 1;
  const first = fields[0];
  if (first && first.tagClass === forge().asn1.Class.CONTEXT_SPECIFIC && first.type === 0) {
    const inner = children(first)[0];
    version = inner ? forge().asn1.derToInteger(bytes(inner)) + 1 : 1;
    i = 1;
  }
  // serial, signature, issuer, validity, subject, spki
  const validity = fields[i + 3];
  if (!validity) throw new Error('no validity');
  const [notBefore, notAfter] = children(validity).map(readTime);
  if (!notBefore || !notAfter) throw new Error('bad validity');

  const facts: DerFacts = {
    version,
    notBefore,
    notAfter,
    sanDns: [],
    sanIps: [],
    keyUsage: undefined,
    extKeyUsage: undefined,
  };
  const extensions = fields.find((f) => f.tagClass === forge().asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
  const list = extensions ? children(children(extensions)[0]) : [];
  for (const ext of list) {
    const parts = children(ext);
    const oid = parts[0] ? forge().asn1.derToOid(bytes(parts[0])) : '';
    const value = parts[parts.length - 1];
    if (!value) continue;
    const inner = parseDer(Buffer.from(bytes(value), 'binary'));
    if (oid === OID_SAN) readSan(inner, facts);
    else if (oid === OID_KEY_USAGE) facts.keyUsage = readKeyUsage(inner);
    else if (oid === OID_EXT_KEY_USAGE)
      facts.extKeyUsage = children(inner).map((o) => {
        const id = forge().asn1.derToOid(bytes(o));
        return EKU_NAMES[id] ?? id;
      });
  }
  return facts;
}

function readSan(names: Asn1, facts: DerFacts): void {
  for (const name of children(names)) {
    if (name.tagClass !== forge().asn1.Class.CONTEXT_SPECIFIC) continue;
    if (name.type === 2) facts.sanDns.push(bytes(name));
    else if (name.type === 7) facts.sanIps.push(ipToString(Buffer.from(bytes(name), 'binary')));
  }
}

function readKeyUsage(bitString: Asn1): string[] {
  const raw = Buffer.from(bytes(bitString), 'binary');
  // First byte: number of unused bits; then the bits, most significant first.
  const out: string[] = [];
  KEY_USAGE_BITS.forEach((name, bit) => {
    const byte = raw[1 + Math.floor(bit / 8)] ?? 0;
    if (byte & (0x80 >> (bit % 8))) out.push(name);
  });
  return out;
}

function readTime(node: Asn1): Date {
  if (node.type === forge().asn1.Type.UTCTIME) return forge().asn1.utcTimeToDate(bytes(node));
  return forge().asn1.generalizedTimeToDate(bytes(node));
}

function ipToString(raw: Buffer): string {
  if (raw.length === 4) return [...raw].join('.');
  if (raw.length === 16) {
    const groups: string[] = [];
    for (let j = 0; j < 16; j += 2) groups.push(raw.readUInt16BE(j).toString(16));
    return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return raw.toString('hex');
}

function children(node: Asn1 | undefined): Asn1[] {
  return node && Array.isArray(node.value) ? node.value : [];
}

function bytes(node: Asn1): string {
  return typeof node.value === 'string' ? node.value : '';
}
