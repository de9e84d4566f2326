import { z } from 'zod';

/**
 * TLS certificate requirements for remote access from intranet, as pure
 * logic: every face (UI, CLI, host) explains the same problems with the same
 * stable codes. The facts come from the core's parser; nothing here reads
 * files or keys.
 */

export const CERTIFICATE_PROBLEM_CODES = [
  'NOT_V3',
  'NO_PRIVATE_KEY',
  'EXPIRED',
  'NOT_YET_VALID',
  'WILDCARD',
  'FQDN_NOT_IN_SAN',
  'WEAK_KEY',
  'NO_SERVER_AUTH',
  'UNTRUSTED',
  'BAD_PASSWORD',
  'UNREADABLE',
] as const;
export const CertificateProblemCodeSchema = z.enum(CERTIFICATE_PROBLEM_CODES);
export type CertificateProblemCode = z.infer<typeof CertificateProblemCodeSchema>;

export const CERTIFICATE_WARNING_CODES = ['EXPIRES_SOON', 'FQDN_ONLY_IN_SUBJECT'] as const;
export const CertificateWarningCodeSchema = z.enum(CERTIFICATE_WARNING_CODES);
export type CertificateWarningCode = z.infer<typeof CertificateWarningCodeSchema>;

export const CertificateProblemSchema = z.object({
  code: CertificateProblemCodeSchema,
  message: z.string(),
  fix: z.string(),
});
export type CertificateProblem = z.infer<typeof CertificateProblemSchema>;

export const CertificateWarningSchema = z.object({
  code: CertificateWarningCodeSchema,
  message: z.string(),
  fix: z.string(),
});
export type CertificateWarning = z.infer<typeof CertificateWarningSchema>;

export const CertificateKeySchema = z.object({
  type: z.enum(['rsa', 'ec', 'other']),
  bits: z.number().int().positive().optional(),
  /** `P-256`, `P-384`, … (or the OpenSSL name of a curve we do not accept). */
  curve: z.string().optional(),
  /** The algorithm name when type is `other` (e.g. `ed25519`, `dsa`). */
  algorithm: z.string().optional(),
});
export type CertificateKey = z.infer<typeof CertificateKeySchema>;

const Sha1Hex = z.string().regex(/^[0-9a-f]{40}$/);
const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** What every face shows about one certificate, with the requirement check already applied. */
export const CertificateInfoSchema = z.object({
  /** SHA-1 of the DER, lower-case hex: the thumbprint Windows tools show. */
  thumbprint: Sha1Hex,
  thumbprintSha256: Sha256Hex,
  version: z.number().int(),
  serialNumber: z.string(),
  subject: z.string(),
  issuer: z.string(),
  /** DNS names and IP addresses from the Subject Alternative Names, as written. */
  san: z.array(z.string()),
  notBefore: z.string(),
  notAfter: z.string(),
  key: CertificateKeySchema,
  hasPrivateKey: z.boolean(),
  selfSigned: z.boolean(),
  /** null when trust was not checked. */
  trusted: z.boolean().nullable(),
  problems: z.array(CertificateProblemSchema),
  warnings: z.array(CertificateWarningSchema),
});
export type CertificateInfo = z.infer<typeof CertificateInfoSchema>;

/** A certificate in the node's own store. */
export const StoredCertificateSchema = CertificateInfoSchema.extend({
  origin: z.enum(['imported', 'self-signed']),
  addedAt: z.string(),
  /** Trusted as an anchor by this node (a peer's self-signed certificate, or our own once trusted). */
  trustAnchor: z.boolean(),
});
export type StoredCertificate = z.infer<typeof StoredCertificateSchema>;

/** One entry of a system store, listed read-only. */
export const SystemCertificateSchema = z.object({
  thumbprint: Sha1Hex,
  thumbprintSha256: Sha256Hex,
  subject: z.string(),
  issuer: z.string(),
  notAfter: z.string(),
  store: z.string(),
});
export type SystemCertificate = z.infer<typeof SystemCertificateSchema>;

export const SystemStoreSchema = z.object({
  id: z.string(),
  label: z.string(),
  read: z.boolean(),
  count: z.number().int().nonnegative(),
  /** Why it was not read (absent on this platform, unreadable, …). */
  reason: z.string().optional(),
});
export type SystemStore = z.infer<typeof SystemStoreSchema>;

/** Plain facts about a certificate, extracted by the core's parser. */
export interface CertificateFacts {
  version: number;
  hasPrivateKey: boolean;
  /** A key came with the certificate but does not belong to it. */
  privateKeyMismatch?: boolean;
  notBefore: string;
  notAfter: string;
  sanDns: string[];
  sanIps: string[];
  subjectCn: string | null;
  key: CertificateKey;
  /** Key usage bit names (`digitalSignature`, `keyEncipherment`, …); absent when the extension is. */
  keyUsage?: string[] | undefined;
  /** Extended key usage OIDs or names; absent when the extension is. */
  extKeyUsage?: string[] | undefined;
  /** Chain ends in a trusted root; null when not checked. */
  trusted: boolean | null;
  selfSigned: boolean;
}

export interface RequirementContext {
  /** This node's FQDN. */
  fqdn: string;
  /** The other nodes' FQDNs, when known: one certificate serves every node. */
  otherFqdns?: string[];
  now: Date;
  /** Days before expiry that warn; 30 by default. */
  expiryWarningDays?: number;
}

export interface RequirementResult {
  problems: CertificateProblem[];
  warnings: CertificateWarning[];
}

const SERVER_AUTH = ['1.3.6.1.5.5.7.3.1', 'serverAuth'];
/** RFC 5280 anyExtendedKeyUsage: TLS stacks accept it for servers, so we do too. */
const ANY_EKU = ['2.5.29.37.0', 'anyExtendedKeyUsage'];
const ACCEPTED_CURVES = new Set(['P-256', 'P-384']);
const DAY_MS = 86_400_000;

/** Every requirement of the reference product, each failure with its fix. Order is stable. */
export function checkCertificateRequirements(
  facts: CertificateFacts,
  context: RequirementContext,
): RequirementResult {
  const problems: CertificateProblem[] = [];
  const warnings: CertificateWarning[] = [];
  const add = (code: CertificateProblemCode, message: string, fix: string) =>
    problems.push({ code, message, fix });

  if (facts.version !== 3) {
    add(
      'NOT_V3',
      `This is an X.509 version ${facts.version} certificate; version 3 is required (it carries the Subject Alternative Names and key usages).`,
      'Issue a new certificate: every current CA and `openir cert create-self-signed` make version 3.',
    );
  }

  if (!facts.hasPrivateKey) {
    add(
      'NO_PRIVATE_KEY',
      facts.privateKeyMismatch
        ? 'The private key supplied does not belong to this certificate.'
        : 'The private key of this certificate is not available, so the node cannot serve TLS with it.',
      'Import the certificate together with its private key: a PFX/PKCS#12 file with its password, or a PEM file holding both the certificate and its key.',
    );
  }

  const notBefore = Date.parse(facts.notBefore);
  const notAfter = Date.parse(facts.notAfter);
  const now = context.now.getTime();
  if (now > notAfter) {
    add(
      'EXPIRED',
      `The certificate expired on ${facts.notAfter}.`,
      'Renew it with its issuer (or generate a new self-signed one) and import the new certificate.',
    );
  } else if (now < notBefore) {
    add(
      'NOT_YET_VALID',
      `The certificate is not valid before ${facts.notBefore}.`,
      "Wait until then, or check this machine's clock and time zone; a certificate dated in the future often means a wrong clock here or on the issuer.",
    );
  } else if (notAfter - now < (context.expiryWarningDays ?? 30) * DAY_MS) {
    const days = Math.max(0, Math.floor((notAfter - now) / DAY_MS));
    warnings.push({
      code: 'EXPIRES_SOON',
      message: `The certificate expires in ${days} day${days === 1 ? '' : 's'} (${facts.notAfter}).`,
      fix: 'Renew it now and import the new one on every node before this one expires.',
    });
  }

  const wildcards = [...facts.sanDns, ...(facts.subjectCn ? [facts.subjectCn] : [])].filter((name) =>
    name.includes('*'),
  );
  if (wildcards.length > 0) {
    add(
      'WILDCARD',
      `Wildcard names are not supported: ${unique(wildcards).join(', ')}.`,
      "Use a certificate that names each node's FQDN explicitly in its Subject Alternative Names.",
    );
  }

  const san = new Set(facts.sanDns.map(normalizeName));
  const wanted = unique([context.fqdn, ...(context.otherFqdns ?? [])].map(normalizeName)).filter(Boolean);
  // A name a wildcard covers is reported once, as WILDCARD, not also as missing.
  const patterns = facts.sanDns.filter((name) => name.includes('*')).map(normalizeName);
  const missing = wanted.filter((name) => !san.has(name) && !patterns.some((p) => wildcardMatches(p, name)));
  if (missing.length > 0) {
    const which =
      missing.length === 1 && missing[0] === normalizeName(context.fqdn)
        ? `this machine's FQDN (${context.fqdn})`
        : `these FQDNs: ${missing.join(', ')}`;
    add(
      'FQDN_NOT_IN_SAN',
      facts.sanDns.length === 0 && facts.sanIps.length === 0
        ? `The certificate has no Subject Alternative Names, so it does not name ${which}.`
        : `The Subject Alternative Names (${[...facts.sanDns, ...facts.sanIps].join(', ')}) do not include ${which}.`,
      `Issue a certificate whose Subject Alternative Names list ${missing.join(', ')} as DNS names (e.g. \`openir cert create-self-signed --dns ${missing.join(',')}\`).`,
    );
    if (facts.subjectCn && missing.includes(normalizeName(facts.subjectCn))) {
      warnings.push({
        code: 'FQDN_ONLY_IN_SUBJECT',
        message: `${facts.subjectCn} appears only in the subject's common name, which TLS clients ignore.`,
        fix: 'Put it in the Subject Alternative Names as a DNS name.',
      });
    }
  }

  const weak = weakKeyReason(facts.key);
  if (weak) {
    add(
      'WEAK_KEY',
      weak,
      'Use an RSA key of 2048 bits or more, or an EC key on P-256 or P-384 (`openir cert create-self-signed --key rsa2048|p256`).',
    );
  }

  const usage = serverAuthGap(facts);
  if (usage) {
    add(
      'NO_SERVER_AUTH',
      usage,
      'Issue a certificate for TLS servers: extended key usage "TLS Web Server Authentication" (serverAuth) and key usage digitalSignature/keyEncipherment.',
    );
  }

  if (facts.trusted === false) {
    add(
      'UNTRUSTED',
      facts.selfSigned
        ? 'This self-signed certificate is not in any trust store here, so intranet clients will reject it (the OpenIR nodes of this IR do not: they pin the certificate each node reports).'
        : 'The certificate does not chain to a trusted root certification authority.',
      facts.selfSigned
        ? "Export its public PEM (`openir cert export <thumbprint> --pem --out node.pem`) and install it in the trust store of every client that calls this node's remote access (`openir cert import node.pem --trust`, or the OS store), or use a certificate from a CA they all trust."
        : "Install the issuing CA (and any intermediates) in every node's trust store, or import the certificate with its full chain.",
    );
  }

  return { problems, warnings };
}

function weakKeyReason(key: CertificateKey): string | null {
  if (key.type === 'rsa') {
    if (key.bits !== undefined && key.bits < 2048)
      return `The RSA key has ${key.bits} bits; at least 2048 are required.`;
    return null;
  }
  if (key.type === 'ec') {
    if (key.curve && ACCEPTED_CURVES.has(key.curve)) return null;
    return `The EC key is on curve ${key.curve ?? 'unknown'}; only P-256 and P-384 are accepted.`;
  }
  return `The key type ${key.algorithm ?? 'of this certificate'} is not supported; RSA or EC is required.`;
}

function serverAuthGap(facts: CertificateFacts): string | null {
  const eku = facts.extKeyUsage;
  if (eku && !eku.some((usage) => SERVER_AUTH.includes(usage) || ANY_EKU.includes(usage))) {
    return `The extended key usage (${eku.join(', ') || 'empty'}) does not allow TLS server authentication.`;
  }
  const ku = facts.keyUsage;
  if (ku && !ku.includes('digitalSignature') && !ku.includes('keyEncipherment')) {
    return `The key usage (${ku.join(', ') || 'empty'}) allows neither digitalSignature nor keyEncipherment, which a TLS server needs.`;
  }
  return null;
}

/** DNS names compare case-insensitively and without a trailing dot. */
function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** `*.example.com` covers exactly one label: `a.example.com`, not `example.com` or `a.b.example.com`. */
function wildcardMatches(pattern: string, name: string): boolean {
  if (!pattern.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot) === pattern.slice(1);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Thumbprints as users paste them: any case, with or without colons or spaces. */
export function normalizeThumbprint(value: string): string {
  return value.replace(/[\s:]/g, '').toLowerCase();
}

export const ThumbprintInputSchema = z
  .string()
  .transform(normalizeThumbprint)
  .refine((value) => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value), {
    message: 'A thumbprint is 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.',
  });

/** This node's certificate store as `listCertificates` answers and `certificatesChanged` pushes it. */
export const CertificateListSchema = z.object({
  fqdn: z.string(),
  certificates: z.array(StoredCertificateSchema),
});
export type CertificateList = z.infer<typeof CertificateListSchema>;

/** The system trust stores (read-only), and which of them could be read. */
export const SystemCertificateListSchema = z.object({
  stores: z.array(SystemStoreSchema),
  certificates: z.array(SystemCertificateSchema),
});

/** A certificate file crosses the API as base64; 512 KiB of file is far more than any real PFX. */
const CertificateContentSchema = z
  .string()
  .min(1)
  .max(700_000)
  .regex(/^[A-Za-z0-9+/=\s]*$/, 'Base64 expected.');
/** The password of a PFX or encrypted PEM key; never logged, never stored. */
const CertificatePasswordSchema = z.string().max(1024);

export const InspectCertificateInputSchema = z
  .object({ content: CertificateContentSchema, password: CertificatePasswordSchema.optional() })
  .strict();

export const ImportCertificateInputSchema = z
  .object({
    content: CertificateContentSchema,
    password: CertificatePasswordSchema.optional(),
    /** Also trust it as a root on this node (a peer's self-signed certificate). */
    trust: z.boolean().optional(),
  })
  .strict();

export const CreateSelfSignedCertificateInputSchema = z
  .object({
    dnsNames: z
      .array(
        z
          .string()
          .trim()
          .min(1)
          .max(253)
          .regex(/^[A-Za-z0-9.:-]+$/, 'A DNS name or IP address, without wildcards.'),
      )
      .max(50)
      .optional(),
    days: z.number().int().min(1).max(3650).optional(),
    key: z.enum(['rsa2048', 'p256']).optional(),
  })
  .strict();

export const ExportCertificateInputSchema = z
  .object({
    thumbprint: ThumbprintInputSchema,
    format: z.enum(['pem', 'pfx']),
    password: CertificatePasswordSchema.optional(),
  })
  .strict();

export const ExportedCertificateSchema = z.object({
  format: z.enum(['pem', 'pfx']),
  thumbprint: z.string(),
  /** PEM text, or the PFX file as base64. */
  data: z.string(),
});

export const ThumbprintOnlyInputSchema = z.object({ thumbprint: ThumbprintInputSchema }).strict();

export const SetCertificateTrustInputSchema = z
  .object({ thumbprint: ThumbprintInputSchema, trusted: z.boolean() })
  .strict();
