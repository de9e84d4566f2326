import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import {
  normalizeThumbprint,
  type CertificateInfo,
  type StoredCertificate,
  type SystemCertificate,
  type SystemStore,
} from '../../shared/certificates';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import type { SecretVault } from '../vault';
import { describeCertificate } from './describe';
import { parseCertificateFile, type ParsedCertificate } from './parse';
import type { SelfSignedKeyType } from './selfSigned';
import { SystemTrust, TrustAnchors } from './trust';
import { thumbprints } from './x509';

/** Vault entry holding one certificate's private key (PKCS#8 PEM). */
export const certificateKeyName = (thumbprintSha256: string): string => `cert-key:${thumbprintSha256}`;

const StoreEntrySchema = z.object({
  thumbprintSha256: z.string(),
  /** The certificate, public PEM. */
  pem: z.string(),
  /** Intermediates that came with it, public PEM. */
  chain: z.array(z.string()),
  /** The private key is in the vault under `certificateKeyName`. */
  hasPrivateKey: z.boolean(),
  origin: z.enum(['imported', 'self-signed']),
  addedAt: z.string(),
  trustAnchor: z.boolean(),
});
type StoreEntry = z.infer<typeof StoreEntrySchema>;

const StoreFileSchema = z.object({
  version: z.literal(1),
  certificates: z.array(StoreEntrySchema),
});
type StoreFile = z.infer<typeof StoreFileSchema>;

export interface CertificateStoreOptions {
  /** The node's data directory; the store lives in `<dataDir>/certificates/store.json`. */
  dataDir: string;
  vault: SecretVault;
  /** This node's FQDN, checked against the SANs. */
  fqdn: string;
  /** The other nodes' FQDNs, when known. */
  otherFqdns?: () => string[];
  clock?: () => Date;
  systemTrust?: SystemTrust;
}

/** What TLS needs to serve with a stored certificate. */
export interface ServerCredentials {
  certPem: string;
  chainPem: string[];
  keyPem: string;
}

/** A certificate checked for serving remote access: the PEM chain, its key, and what to tell the user. */
export interface ServingMaterial {
  certPem: string;
  keyPem: string;
  /** Problems that do not block serving (other nodes must trust it) and warnings, each with its fix. */
  warnings: string[];
}

/**
 * The node's certificate store: public certificates in a JSON file written
 * atomically, private keys only in the vault. Also the node's own trust list
 * (peers' self-signed certificates), used together with the system roots.
 */
export class CertificateStore {
  private readonly file: string;
  private readonly systemTrust: SystemTrust;
  /** Mutations run one at a time so concurrent imports never lose each other's entries. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CertificateStoreOptions) {
    this.file = storeFile(options.dataDir);
    this.systemTrust = options.systemTrust ?? new SystemTrust();
  }

  async list(): Promise<StoredCertificate[]> {
    const data = await this.load();
    // Nothing to check: the system roots need not be read (the list is read at every start-up).
    if (data.certificates.length === 0) return [];
    const anchors = this.anchors(data);
    return data.certificates.map((entry) => this.describeEntry(entry, anchors));
  }

  /** Reads a certificate file and checks it, without storing anything. */
  async inspect(content: Uint8Array, password?: string): Promise<CertificateInfo> {
    const parsed = parseCertificateFile(content, password);
    return describeCertificate(parsed, this.context(this.anchors(await this.load())));
  }

  async import(
    content: Uint8Array,
    password?: string,
    options: { trust?: boolean } = {},
  ): Promise<StoredCertificate> {
    const parsed = parseCertificateFile(content, password);
    return this.add(parsed, 'imported', options.trust ?? false);
  }

  async createSelfSigned(input: {
    dnsNames?: string[];
    days?: number;
    key?: SelfSignedKeyType;
  }): Promise<StoredCertificate> {
    const names = input.dnsNames && input.dnsNames.length > 0 ? input.dnsNames : [this.options.fqdn];
    // Loaded on use: the ASN.1 writer pulls in node-forge (see ./forge).
    const { createSelfSigned } = await import('./selfSigned.js');
    const { cert, key } = createSelfSigned({
      names,
      days: input.days ?? 365,
      keyType: input.key ?? 'rsa2048',
      now: this.now(),
    });
    return this.add({ format: 'pem', leaf: cert, chain: [], key, keyMismatch: false }, 'self-signed', false);
  }

  async exportPem(thumbprint: string): Promise<string> {
    const entry = await this.find(thumbprint);
    return [entry.pem, ...entry.chain].map((pem) => pem.trim()).join('\n') + '\n';
  }

  async exportPfx(thumbprint: string, password: string): Promise<Buffer> {
    if (!password) {
      throw new OpenIrError('INVALID_INPUT', 'A PFX export needs a password to protect the private key.', {
        fix: 'Give the password on standard input (--password-stdin), or export the public PEM with --pem.',
      });
    }
    const entry = await this.find(thumbprint);
    const key = await this.privateKey(entry);
    const certs = [entry.pem, ...entry.chain].map((pem) => new X509Certificate(pem));
    const { buildPfx } = await import('./pfx.js');
    return buildPfx(key, certs, password, certs[0] ? commonNameOrThumbprint(certs[0]) : undefined);
  }

  /** Removes the certificate, then its key: a crash in between leaves an unused key, never an entry without one. */
  async remove(thumbprint: string): Promise<StoredCertificate> {
    return this.mutate(async (data) => {
      const entry = findIn(data, thumbprint);
      const described = this.describeEntry(entry, this.anchors(data));
      await this.save({ ...data, certificates: data.certificates.filter((e) => e !== entry) });
      if (entry.hasPrivateKey) await this.options.vault.delete(certificateKeyName(entry.thumbprintSha256));
      return described;
    });
  }

  /** Adds or removes a certificate from this node's own trust list. */
  async setTrust(thumbprint: string, trusted: boolean): Promise<StoredCertificate> {
    return this.mutate(async (data) => {
      const entry = findIn(data, thumbprint);
      const updated = { ...entry, trustAnchor: trusted };
      const next = { ...data, certificates: data.certificates.map((e) => (e === entry ? updated : e)) };
      await this.save(next);
      return this.describeEntry(updated, this.anchors(next));
    });
  }

  /** Certificate, chain and key for a TLS server (remote access from intranet). */
  async serverCredentials(thumbprint: string): Promise<ServerCredentials> {
    const entry = await this.find(thumbprint);
    const key = await this.privateKey(entry);
    return {
      certPem: entry.pem,
      chainPem: entry.chain,
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }

  /**
   * The certificate with this thumbprint (SHA-1 or SHA-256), once it meets
   * the TLS requirements for this node, ready for the remote-access listener.
   * Throws CERTIFICATE_NOT_USABLE with the problems and their fixes otherwise.
   */
  async tlsMaterialFor(thumbprint: string): Promise<ServingMaterial> {
    const wanted = normalizeThumbprint(thumbprint);
    const stored = (await this.list()).find((c) => c.thumbprint === wanted || c.thumbprintSha256 === wanted);
    if (!stored) {
      throw new OpenIrError(
        'CERTIFICATE_NOT_USABLE',
        `No certificate with thumbprint ${thumbprint} in this node's store.`,
        {
          fix: 'Import one or generate a self-signed certificate first (`openir cert list`).',
        },
      );
    }
    // Other nodes trusting it is their part (import it into their stores); everything else must hold here.
    const blocking = stored.problems.filter((p) => p.code !== 'UNTRUSTED');
    if (blocking.length > 0) {
      throw new OpenIrError(
        'CERTIFICATE_NOT_USABLE',
        `The certificate "${stored.subject}" cannot be used for remote access: ${blocking.map((p) => `${p.code}: ${p.message}`).join(' ')}`,
        { fix: blocking.map((p) => p.fix).join(' ') },
      );
    }
    const credentials = await this.serverCredentials(stored.thumbprintSha256);
    const warnings = [...stored.problems, ...stored.warnings].map((p) => `${p.message} ${p.fix}`);
    return {
      certPem: [credentials.certPem, ...credentials.chainPem].join('\n'),
      keyPem: credentials.keyPem,
      warnings,
    };
  }

  listSystem(): { stores: SystemStore[]; certificates: SystemCertificate[] } {
    return this.systemTrust.list();
  }

  private async add(
    parsed: ParsedCertificate,
    origin: StoreEntry['origin'],
    trust: boolean,
  ): Promise<StoredCertificate> {
    const { thumbprintSha256 } = thumbprints(parsed.leaf);
    return this.mutate(async (data) => {
      const existing = data.certificates.find((e) => e.thumbprintSha256 === thumbprintSha256);
      // The key goes to the vault before the entry that says it is there.
      if (parsed.key) {
        await this.options.vault.set(
          certificateKeyName(thumbprintSha256),
          parsed.key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        );
      }
      const entry: StoreEntry = {
        thumbprintSha256,
        pem: parsed.leaf.toString(),
        chain: parsed.chain.map((c) => c.toString()),
        hasPrivateKey: parsed.key !== null || (existing?.hasPrivateKey ?? false),
        origin: existing?.origin ?? origin,
        addedAt: existing?.addedAt ?? this.now().toISOString(),
        trustAnchor: trust || (existing?.trustAnchor ?? false),
      };
      if (existing && entry.chain.length === 0) entry.chain = existing.chain;
      const next = {
        ...data,
        certificates: existing
          ? data.certificates.map((e) => (e === existing ? entry : e))
          : [...data.certificates, entry],
      };
      await this.save(next);
      return this.describeEntry(entry, this.anchors(next));
    });
  }

  private describeEntry(entry: StoreEntry, anchors: TrustAnchors): StoredCertificate {
    const leaf = new X509Certificate(entry.pem);
    const info = describeCertificate(
      {
        format: 'pem',
        leaf,
        chain: entry.chain.map((pem) => new X509Certificate(pem)),
        // Only whether a key exists matters for the check; the key itself stays in the vault.
        key: entry.hasPrivateKey ? leaf.publicKey : null,
        keyMismatch: false,
      },
      this.context(anchors),
    );
    return { ...info, origin: entry.origin, addedAt: entry.addedAt, trustAnchor: entry.trustAnchor };
  }

  private context(anchors: TrustAnchors) {
    const otherFqdns = this.options.otherFqdns?.() ?? [];
    return {
      fqdn: this.options.fqdn,
      ...(otherFqdns.length > 0 ? { otherFqdns } : {}),
      now: this.now(),
      anchors,
    };
  }

  private anchors(data: StoreFile): TrustAnchors {
    return this.systemTrust.anchors().with(storeAnchors(data));
  }

  private async privateKey(entry: StoreEntry): Promise<KeyObject> {
    const pem = entry.hasPrivateKey
      ? await this.options.vault.get(certificateKeyName(entry.thumbprintSha256))
      : null;
    if (!pem) {
      throw new OpenIrError(
        'NO_PRIVATE_KEY',
        entry.hasPrivateKey
          ? 'The private key of this certificate is missing from the secret store.'
          : 'This certificate was imported without its private key.',
        {
          fix: 'Import the certificate again with its private key (PFX with password, or PEM with the key).',
        },
      );
    }
    return createPrivateKey(pem);
  }

  private async find(thumbprint: string): Promise<StoreEntry> {
    return findIn(await this.load(), thumbprint);
  }

  private async load(): Promise<StoreFile> {
    return loadStoreFile(this.file);
  }

  private async save(data: StoreFile): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(data, null, 2)}\n`, 0o644);
  }

  private mutate<T>(fn: (data: StoreFile) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => fn(await this.load()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private now(): Date {
    return (this.options.clock ?? (() => new Date()))();
  }
}

export function storeFile(dataDir: string): string {
  return path.join(dataDir, 'certificates', 'store.json');
}

async function loadStoreFile(file: string): Promise<StoreFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, certificates: [] };
    throw error;
  }
  return parseStoreFile(text, file);
}

function parseStoreFile(text: string, file: string): StoreFile {
  const parsed = StoreFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new OpenIrError('INTERNAL', `The certificate store ${file} is damaged.`, {
      fix: 'Restore it from a backup, or move it aside and import the certificates again.',
    });
  }
  return parsed.data;
}

function storeAnchors(data: StoreFile): X509Certificate[] {
  return data.certificates.filter((e) => e.trustAnchor).map((e) => new X509Certificate(e.pem));
}

function findIn(data: StoreFile, thumbprint: string): StoreEntry {
  const wanted = normalizeThumbprint(thumbprint);
  const entry = data.certificates.find((e) => {
    if (e.thumbprintSha256 === wanted) return true;
    return wanted.length === 40 && thumbprints(new X509Certificate(e.pem)).thumbprint === wanted;
  });
  if (!entry) {
    throw new OpenIrError('NOT_FOUND', `No certificate with thumbprint ${thumbprint} in this node's store.`, {
      fix: 'List the store with `openir cert list`.',
    });
  }
  return entry;
}

function commonNameOrThumbprint(cert: X509Certificate): string {
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='));
  return cn ? cn.slice(3) : thumbprints(cert).thumbprint;
}

/**
 * Checks a certificate file the way the host would, without a running host:
 * the CLI's `cert inspect`. Reads the store's trust list read-only.
 */
export function inspectCertificateOffline(
  content: Uint8Array,
  password: string | undefined,
  options: { dataDir: string; fqdn: string; now?: Date; systemTrust?: SystemTrust },
): CertificateInfo {
  const parsed = parseCertificateFile(content, password);
  let stored: X509Certificate[] = [];
  try {
    const file = storeFile(options.dataDir);
    stored = storeAnchors(parseStoreFile(readFileSync(file, 'utf8'), file));
  } catch {
    // No store yet (or unreadable): system roots only.
  }
  const anchors = (options.systemTrust ?? new SystemTrust()).anchors().with(stored);
  return describeCertificate(parsed, { fqdn: options.fqdn, now: options.now ?? new Date(), anchors });
}
