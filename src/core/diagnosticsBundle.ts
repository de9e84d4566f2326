import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { redactAuthKeys } from '../shared/authKey';
import { CertificateListSchema, type CertificateList } from '../shared/certificates';
import { CredentialListSchema, CredentialViewSchema } from '../shared/credentials';
import {
  diagnosticsFileName,
  MAX_DIAGNOSTICS_BUNDLE_BYTES,
  REDACTED,
  type CreateDiagnosticsBundleOutput,
  type DiagnosticsBundleFile,
  type DiagnosticsSent,
} from '../shared/diagnosticsBundle';
import { OpenIrError, toErrorBody } from '../shared/errors';
type CredentialList = z.infer<typeof CredentialListSchema>;
import type { z } from 'zod';
import { JobsViewSchema, type JobsView } from '../shared/jobs';
import { ProxyViewSchema, type ProxyView } from '../shared/proxy';
import { StatusReportSchema, type StatusReport } from '../shared/statusReport';
import { BACKUP_DATA_FILES, backupVaultEntries, type BackupDataFile } from './backup/entries';
import type { NodeConfig } from './config';
import type { SourceLogger } from './logger';
import type { SecretVault } from './vault';

/**
 * One more file of the bundle, made by another part of the node (the
 * troubleshoot report is one): the bundle service does not know its shape,
 * only its path. Its bytes go through the same final secret scan.
 */
export interface DiagnosticsSection {
  path: string;
  produce(): Promise<string | Uint8Array>;
}

export interface DiagnosticsBundleLinks {
  version: string;
  clock: () => Date;
  log: SourceLogger;
  /** The log folder: `openir.log` and its rotated `openir.log.1`, … go in. */
  logsDir: string;
  config: () => Promise<NodeConfig>;
  status: () => Promise<StatusReport>;
  jobs: () => Promise<JobsView>;
  certificates: () => Promise<CertificateList>;
  proxy: () => Promise<ProxyView>;
  credentials: () => Promise<CredentialList>;
  /** Every secret value this node knows (vault entries, and those the log redactor holds). */
  knownSecrets: () => Promise<string[]>;
  /** Uploads the zip to the control plane, as this node; answers when it was stored. */
  send: (id: string, zip: Uint8Array) => Promise<{ receivedAt: string; size: number }>;
  /** Files other services add (e.g. troubleshoot.json, troubleshoot.html). */
  sections?: readonly DiagnosticsSection[];
  /** Electron's version when the desktop app runs the host; null headless. */
  electronVersion?: string | null;
}

/** As the log redactor: shorter values are ordinary words more often than secrets (a 6-letter password equal to a user name would block every bundle). */
const MIN_SCANNED_SECRET_LENGTH = 8;
const LOG_FILE = /^openir\.log(\.\d+)?$/;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Builds the diagnostics bundle: a zip of the logs (current and rotated), the
 * config with each secret shown as `[redacted]`, the status, recent jobs, the
 * certificate list, the proxy settings, versions and any injected sections,
 * with a manifest naming the bundle's ID and every file.
 *
 * Secrets stay out twice over. By construction: every structured file is
 * built from an allow-list (the contract's own view schemas, which strip any
 * field they do not name, and explicit field lists for the config); log text
 * has every known secret value replaced, in every encoding the scan knows.
 * Then, before anything is returned or sent, every file is scanned for every
 * known secret (raw, JSON-escaped, base64 and base64url at each alignment,
 * hex) and for authentication keys; one hit fails the whole bundle closed
 * with DIAGNOSTICS_SECRET_FOUND, naming the file but never the secret.
 */
export class DiagnosticsBundleService {
  constructor(private readonly links: DiagnosticsBundleLinks) {}

  async create(input: { send?: boolean | undefined }): Promise<CreateDiagnosticsBundleOutput> {
    const { links } = this;
    const id = newBundleId();
    const createdAt = links.clock().toISOString();
    const secrets = await links.knownSecrets();
    const needles = secretNeedles(secrets);
    const files = new Map<string, Uint8Array>();
    const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);

    // A bundle is most wanted when something is broken: a part that fails is a coded error file
    // (`<path>.error.json`) in its place, not a failed bundle. Only the secret scan fails it.
    const part = async (name: string, make: () => Promise<Uint8Array>) => {
      try {
        files.set(name, await make());
      } catch (error) {
        files.set(`${name}.error.json`, json({ error: toErrorBody(error) }));
      }
    };
    const config = await links.config();
    await part('versions.json', async () => json(this.versions()));
    await part('config.json', async () =>
      json(redactedConfig(config, await links.proxy(), await links.credentials())),
    );
    await part('status.json', async () => json(StatusReportSchema.parse(await links.status())));
    await part('jobs.json', async () => json(JobsViewSchema.parse(await links.jobs())));
    await part('certificates.json', async () => json(publicCertificates(await links.certificates())));
    await part('proxy.json', async () => json(proxySettings(await links.proxy())));
    for (const [name, bytes] of await this.logFiles()) files.set(`logs/${name}`, scrub(bytes, needles));
    for (const section of links.sections ?? []) {
      if (!isSafeEntryPath(section.path) || files.has(section.path) || section.path === 'manifest.json') {
        throw new OpenIrError('INTERNAL', `The diagnostics section "${section.path}" has an invalid path.`);
      }
      await part(section.path, async () => {
        const produced = await section.produce();
        return typeof produced === 'string' ? Buffer.from(produced) : produced;
      });
    }

    const listed: DiagnosticsBundleFile[] = [...files].map(([name, bytes]) => ({
      path: name,
      size: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    }));
    const reg = config.registration;
    files.set(
      'manifest.json',
      json({
        kind: 'openir-diagnostics-bundle',
        formatVersion: 1,
        id,
        createdAt,
        productVersion: links.version,
        node: reg ? { id: reg.nodeId, name: reg.nodeName, fqdn: reg.fqdn } : null,
        ir: reg ? { id: reg.irId, name: reg.irName } : null,
        redaction: `Every secret (node credential, proxy password, data store credential secrets, certificate private keys, sync and encryption keys, authentication keys) is left out or shown as "${REDACTED}"; every file was scanned for the secrets this node holds before the bundle was made.`,
        files: listed,
      }),
    );

    for (const [name, bytes] of files) assertNoSecret(name, bytes, needles);

    const mtime = new Date(createdAt);
    const entries: Zippable = {};
    for (const [name, bytes] of files) entries[name] = [bytes, { level: 6, mtime }];
    const zip = zipSync(entries);
    links.log.info(`Created diagnostics bundle ${id} (${zip.byteLength} bytes, ${files.size} files).`);

    const sent = input.send ? await this.send(id, zip) : null;
    return {
      id,
      fileName: diagnosticsFileName(id),
      createdAt,
      content: Buffer.from(zip).toString('base64'),
      size: zip.byteLength,
      files: listed,
      sent,
    };
  }

  private async send(id: string, zip: Uint8Array): Promise<DiagnosticsSent> {
    try {
      if (zip.byteLength > MAX_DIAGNOSTICS_BUNDLE_BYTES) {
        throw new OpenIrError(
          'DIAGNOSTICS_BUNDLE_TOO_LARGE',
          `The diagnostics bundle is ${zip.byteLength} bytes; the control plane takes at most ${MAX_DIAGNOSTICS_BUNDLE_BYTES}.`,
          { fix: 'Send the saved zip to support another way, or lower the log level and try again later.' },
        );
      }
      const answer = await this.links.send(id, zip);
      this.links.log.info(`Sent diagnostics bundle ${id} to the control plane.`);
      return { ok: true, ...answer };
    } catch (error) {
      const body = toErrorBody(error);
      this.links.log.warn(`Sending diagnostics bundle ${id} failed: ${body.code}: ${body.message}`);
      return { ok: false, error: body };
    }
  }

  private versions() {
    return {
      app: this.links.version,
      node: process.versions.node,
      electron: this.links.electronVersion ?? process.versions.electron ?? null,
      os: {
        platform: process.platform,
        arch: process.arch,
        type: os.type(),
        release: os.release(),
        version: os.version(),
      },
    };
  }

  /** Current and rotated logs, oldest rotation first; a missing folder is no logs, not an error. */
  private async logFiles(): Promise<[string, Buffer][]> {
    let names: string[];
    try {
      names = (await fs.readdir(this.links.logsDir)).filter((name) => LOG_FILE.test(name));
    } catch {
      return [];
    }
    names.sort((a, b) => rotation(b) - rotation(a));
    const out: [string, Buffer][] = [];
    for (const name of names) {
      try {
        out.push([name, await fs.readFile(path.join(this.links.logsDir, name))]);
      } catch {
        // Rotated away between readdir and read: the next bundle has it.
      }
    }
    return out;
  }
}

function rotation(name: string): number {
  const match = /\.(\d+)$/.exec(name);
  return match ? Number(match[1]) : 0;
}

function isSafeEntryPath(entry: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(entry);
}

export function newBundleId(): string {
  const bytes = randomBytes(12);
  let out = 'OIR-';
  for (const byte of bytes) out += CROCKFORD[byte % 32];
  return out;
}

/**
 * The config, field by field: only what is named here goes in, and each
 * secret the node holds appears as `[redacted]` where it belongs (set) or null
 * (not set), so a reader can tell whether it exists without seeing it.
 */
export function redactedConfig(config: NodeConfig, proxy: ProxyView, credentials: CredentialList) {
  const reg = config.registration;
  return {
    schemaVersion: config.schemaVersion,
    vaultBackend: config.vaultBackend,
    logLevel: config.logLevel,
    registration: reg
      ? {
          irId: reg.irId,
          irName: reg.irName,
          nodeId: reg.nodeId,
          nodeName: reg.nodeName,
          fqdn: reg.fqdn,
          endpoint: reg.endpoint,
          pin: reg.pin,
          controlPlaneCaPem: reg.controlPlaneCaPem,
          registeredAt: reg.registeredAt,
          heartbeatIntervalMs: reg.heartbeatIntervalMs,
          heartbeatTimeoutMs: reg.heartbeatTimeoutMs,
          nodeCredential: REDACTED,
        }
      : null,
    proxy: proxySettings(proxy),
    remoteAccess:
      config.remoteAccess.mode === 'disabled'
        ? { mode: 'disabled' }
        : {
            mode: config.remoteAccess.mode,
            port: config.remoteAccess.port,
            ...(config.remoteAccess.mode === 'tls' ? { thumbprint: config.remoteAccess.thumbprint } : {}),
          },
    jobs: {
      allowedFolders: [...config.jobs.allowedFolders],
      concurrentJobsLimit: config.jobs.concurrentJobsLimit,
    },
    credentials: credentials.credentials.map((view) => {
      const parsed = CredentialViewSchema.parse(view);
      const secret =
        'hasSecret' in parsed
          ? parsed.hasSecret
          : 'hasPassword' in parsed
            ? parsed.hasPassword
            : 'hasBearerToken' in parsed
              ? parsed.hasBearerToken || parsed.headerNames.length > 0
              : false;
      return { ...parsed, secrets: secret ? REDACTED : null };
    }),
  };
}

function proxySettings(view: ProxyView) {
  const parsed = ProxyViewSchema.parse(view);
  const settings =
    parsed.settings.mode === 'custom'
      ? {
          mode: parsed.settings.mode,
          address: parsed.settings.address,
          port: parsed.settings.port,
          user: parsed.settings.user ?? null,
          password: parsed.hasPassword ? REDACTED : null,
        }
      : { mode: parsed.settings.mode };
  return { settings, route: parsed.route };
}

/** The store's certificates: the list view, which holds public parts only (never a key). */
function publicCertificates(list: CertificateList) {
  return CertificateListSchema.parse(list);
}

/** The values of every vault entry a backup would carry: what the bundle must never contain. */
export async function vaultSecrets(dataDir: string, vault: SecretVault): Promise<string[]> {
  const files: Partial<Record<BackupDataFile, string | null>> = {};
  for (const name of BACKUP_DATA_FILES) {
    files[name] = await fs.readFile(path.join(dataDir, name), 'utf8').catch(() => null);
  }
  const out: string[] = [];
  for (const name of backupVaultEntries(files)) {
    // A vault that does not answer fails the bundle: without the secrets there is nothing to scan for.
    const value = await vault.get(name);
    if (value !== null) out.push(value);
  }
  return out;
}

/**
 * Every byte sequence that would betray a secret: the value and, when it is
 * JSON (a credential's secrets) or PEM (a private key), each part of it; each
 * raw, JSON-escaped, hex, and base64/base64url at the three byte alignments
 * it can take inside a longer encoded string.
 */
export function secretNeedles(secrets: readonly string[]): Buffer[] {
  const values = new Set<string>();
  const add = (value: string) => {
    if (value.length >= MIN_SCANNED_SECRET_LENGTH) values.add(value);
  };
  for (const secret of secrets) {
    add(secret);
    for (const part of jsonStrings(secret)) add(part);
    for (const line of pemBodyLines(secret)) add(line);
  }
  const needles = new Map<string, Buffer>();
  const keep = (text: string) => {
    if (text.length >= MIN_SCANNED_SECRET_LENGTH) needles.set(text, Buffer.from(text));
  };
  for (const value of values) {
    const bytes = Buffer.from(value);
    keep(value);
    keep(JSON.stringify(value).slice(1, -1));
    keep(bytes.toString('hex'));
    keep(bytes.toString('hex').toUpperCase());
    for (const encoded of base64Variants(bytes)) {
      if (encoded.length >= 8) keep(encoded);
    }
  }
  return [...needles.values()];
}

function jsonStrings(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') {
      out.push(value);
      for (const line of pemBodyLines(value)) out.push(line);
    } else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(parsed);
  return out;
}

/** A PEM's base64 lines: a leaked part of a private key is as bad as the whole. */
function pemBodyLines(text: string): string[] {
  if (!text.includes('-----BEGIN')) return [];
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length >= 16 && !line.startsWith('-----') && !line.includes(':'));
}

/** base64 and base64url of `bytes` as they appear after 0, 1 or 2 other bytes in an encoded stream. */
function base64Variants(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let lead = 0; lead < 3; lead += 1) {
    const encoded = Buffer.concat([Buffer.alloc(lead), bytes]).toString('base64');
    // The first group mixes in the lead bytes, the last may be partial: keep the groups of the secret alone.
    const whole = Math.floor((lead + bytes.length) / 3) * 4;
    const core = encoded.slice(lead === 0 ? 0 : 4, whole);
    if (core.length === 0) continue;
    out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** Log text with each known secret (in any encoding) and any authentication key replaced. */
function scrub(bytes: Buffer, needles: readonly Buffer[]): Buffer {
  let text = bytes.toString('utf8');
  for (const needle of needles) text = text.split(needle.toString('utf8')).join(REDACTED);
  return Buffer.from(redactAuthKeys(text));
}

/** The last line of defence: fails the bundle closed, naming the file but never the secret. */
export function assertNoSecret(name: string, bytes: Uint8Array, needles: readonly Buffer[]): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const leaked = needles.some((needle) => buffer.indexOf(needle) !== -1);
  const text = buffer.toString('utf8');
  if (leaked || redactAuthKeys(text) !== text) {
    throw new OpenIrError(
      'DIAGNOSTICS_SECRET_FOUND',
      `The diagnostics bundle was not made: ${name} would have held a secret of this node.`,
      {
        fix: 'This is a bug in OpenIR; please report it (without the bundle). Meanwhile send the log folder by hand after checking it.',
      },
    );
  }
}
