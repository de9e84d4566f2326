import fs from 'node:fs/promises';
import path from 'node:path';
import { type CredentialInput, type CredentialType, type CredentialView } from '../../shared/credentials';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import type { SecretVault } from '../vault';
import {
  FileSchema,
  invalidRecord,
  isNewer,
  manifestOf,
  SecretsSchema,
  secretValues,
  split,
  allowFactoriesOf,
  stampOf,
  toView,
  type CredentialRecord,
  type CredentialSecrets,
  type CredentialsFile,
  type ManifestEntry,
  type ResolvedCredential,
  type Stamp,
  type SyncEntry,
} from './credentialRecords';

// What peer sync, sources and tests take from here; defined with the records.
export {
  isNewer,
  ManifestEntrySchema,
  SyncEntrySchema,
  type CredentialSecrets,
  type ManifestEntry,
  type ResolvedCredential,
  type SyncEntry,
} from './credentialRecords';

export interface CredentialStoreOptions {
  dataDir: string;
  vault: SecretVault;
  clock?: () => Date;
  /** Every secret the node learns is redacted from its logs. */
  onSecret?: (secret: string) => void;
  /** This node's id, stamped on the versions it makes ('' while unregistered). */
  origin?: () => string;
  /** A synced credential whose fields this node would not accept (it keeps its own). */
  onRejected?: (name: string, reason: string) => void;
}

export const vaultEntryFor = (name: string): string => `data-store-credential:${name}`;

/**
 * The node's data store credentials. Names and non-secret fields go to a file
 * written atomically; each credential's secrets go to one vault entry, as
 * JSON. Nothing this class returns to a caller of the contract holds a secret.
 */
export class CredentialStore {
  private readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: CredentialStoreOptions) {
    this.file = path.join(options.dataDir, 'credentials.json');
  }

  async list(): Promise<CredentialView[]> {
    const file = await this.read();
    return Object.entries(file.credentials)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, record]) => toView(name, record));
  }

  set(input: CredentialInput): Promise<CredentialView> {
    return this.mutate(async (file, tx) => {
      const now = this.now();
      const previous = file.credentials[input.name];
      // Read through the change, which keeps the entry for a rollback: the vault is read once.
      // A blob secret means something only for its sign-in kind: a key is no SAS token.
      const authChanged =
        (input.type === 'azureBlob' || input.type === 'sftp') &&
        previous?.type === input.type &&
        previous.fields.auth !== input.auth;
      const newSecret =
        input.type === 'azureBlob'
          ? input.secret
          : input.type === 'sftp'
            ? (input.password ?? input.privateKey)
            : undefined;
      if (authChanged && newSecret === undefined) {
        throw new OpenIrError(
          'INVALID_INPUT',
          `The credential "${input.name}" signed in another way; the new one needs its own secret.`,
          {
            fix:
              input.type === 'sftp'
                ? 'Give the password (--secret-stdin) or the private key (--private-key-file) too.'
                : 'Give the account key, SAS token or connection string too (--secret-stdin).',
          },
        );
      }
      const kept =
        previous?.type === input.type && !authChanged
          ? await this.secretsOf(input.name, (entry) => tx.get(entry))
          : {};
      const { fields, secrets } = split(input, kept);
      const hasSecret = await this.storeSecrets(tx, input.name, secrets, previous?.hasSecret ?? false);
      const record: CredentialRecord = {
        type: input.type,
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
        fields,
        hasSecret,
        version: Math.max(previous?.version ?? 0, file.deleted[input.name]?.version ?? 0) + 1,
        origin: this.origin(),
      };
      file.credentials[input.name] = record;
      delete file.deleted[input.name];
      return toView(input.name, record);
    });
  }

  delete(name: string): Promise<CredentialView> {
    return this.mutate(async (file, tx) => {
      const record = file.credentials[name];
      if (!record) throw notFound(name);
      delete file.credentials[name];
      file.deleted[name] = { version: record.version + 1, updatedAt: this.now(), origin: this.origin() };
      if (record.hasSecret) tx.deleteAfterSave(vaultEntryFor(name));
      return toView(name, record);
    });
  }

  /** Forgets every credential, its secrets and the deletions (the node left its IR). */
  clear(): Promise<void> {
    return this.mutate(async (file, tx) => {
      for (const [name, record] of Object.entries(file.credentials)) {
        if (record.hasSecret) tx.deleteAfterSave(vaultEntryFor(name));
      }
      file.credentials = {};
      file.deleted = {};
    });
  }

  /** What this node holds, without any secret: a peer compares it with its own to see what to send. */
  async manifest(): Promise<ManifestEntry[]> {
    return manifestOf(await this.read());
  }

  /** This node's manifest and what it holds newer than `theirs`, from one read of the file: a sync message. */
  async offer(
    theirs: readonly ManifestEntry[],
  ): Promise<{ manifest: ManifestEntry[]; entries: SyncEntry[] }> {
    const file = await this.read();
    return { manifest: manifestOf(file), entries: await this.entriesNewerThan(file, theirs) };
  }

  /**
   * The credentials and deletions newer than `theirs` (a peer's manifest), with
   * their secrets, for that peer (sealed before they leave). Secrets are read
   * from the vault only for what the peer lacks, so nodes in step read none.
   */
  private async entriesNewerThan(
    file: CredentialsFile,
    theirs: readonly ManifestEntry[],
  ): Promise<SyncEntry[]> {
    const known = new Map(theirs.map((entry) => [entry.name, entry]));
    const entries: SyncEntry[] = [];
    for (const [name, { version, origin, updatedAt, ...record }] of Object.entries(file.credentials)) {
      if (!isNewer({ version, origin, updatedAt }, known.get(name))) continue;
      const secrets = record.hasSecret ? await this.secretsOf(name) : undefined;
      entries.push({
        name,
        version,
        origin,
        updatedAt,
        deleted: false,
        record,
        ...(secrets ? { secrets } : {}),
      });
    }
    for (const [name, tombstone] of Object.entries(file.deleted)) {
      if (isNewer(tombstone, known.get(name))) entries.push({ name, ...tombstone, deleted: true });
    }
    return entries;
  }

  /** Applies a peer's entries that are newer than ours; answers the names that changed here. */
  merge(entries: readonly SyncEntry[]): Promise<string[]> {
    return this.mutate(
      async (file, tx) => {
        const changed: string[] = [];
        for (const entry of entries) {
          const current: Stamp | undefined = file.credentials[entry.name] ?? file.deleted[entry.name];
          if (!isNewer(entry, current)) continue;
          const problem = entry.record && !entry.deleted ? invalidRecord(entry.name, entry.record) : null;
          if (problem) {
            // A peer on another version, or a broken one: keep ours rather than store what set() would refuse.
            this.options.onRejected?.(entry.name, problem);
            continue;
          }
          const stamp = stampOf(entry);
          const previous = file.credentials[entry.name];
          if (entry.deleted || !entry.record) {
            delete file.credentials[entry.name];
            file.deleted[entry.name] = stamp;
            if (previous?.hasSecret) tx.deleteAfterSave(vaultEntryFor(entry.name));
          } else {
            const hasSecret = await this.storeSecrets(
              tx,
              entry.name,
              entry.secrets ?? {},
              previous?.hasSecret ?? false,
            );
            file.credentials[entry.name] = { ...entry.record, ...stamp, hasSecret };
            delete file.deleted[entry.name];
          }
          changed.push(entry.name);
        }
        return changed;
        // Nodes in step merge nothing: no rewrite of the file every round.
      },
      (changed) => changed.length > 0,
    );
  }

  /**
   * The linked factories a credential lets use it, or null if there is no such credential. Reads the
   * non-secret file only: a job is checked against it before any secret is read or any store opened.
   */
  async allowedFactories(name: string): Promise<string[] | null> {
    const record = (await this.read()).credentials[name];
    return record ? allowFactoriesOf(record) : null;
  }

  /** The credential with its secrets, for a job; CREDENTIAL_NOT_FOUND or CREDENTIAL_TYPE_MISMATCH otherwise. */
  async resolve(name: string, allowed: readonly CredentialType[]): Promise<ResolvedCredential> {
    const record = (await this.read()).credentials[name];
    if (!record) throw notFound(name);
    if (!allowed.includes(record.type)) {
      throw new OpenIrError(
        'CREDENTIAL_TYPE_MISMATCH',
        `The credential "${name}" is of type ${record.type}; this job needs ${allowed.join(' or ')}.`,
        { fix: 'Submit the job with a credential of the right type.' },
      );
    }
    const secrets = record.hasSecret ? await this.secretsOf(name) : {};
    return resolvedOf(name, record.type, record.fields, secrets);
  }

  /**
   * An unsaved credential input with its secrets, as `set` would store it (an
   * absent secret takes the saved one of the same name and type): what
   * "Test connection" tries before the form is saved. Nothing is written.
   */
  async resolveInput(input: CredentialInput): Promise<ResolvedCredential> {
    const previous = (await this.read()).credentials[input.name];
    const sameAuth =
      (input.type !== 'azureBlob' && input.type !== 'sftp') || previous?.fields.auth === input.auth;
    const kept =
      previous?.type === input.type && previous.hasSecret && sameAuth ? await this.secretsOf(input.name) : {};
    const { fields, secrets } = split(input, kept);
    // A secret typed into the form is redacted from the logs like a saved one.
    for (const value of secretValues(secrets)) this.options.onSecret?.(value);
    return resolvedOf(input.name, input.type, fields, secrets);
  }

  /** Writes a credential's secrets (or drops the old ones once the file is saved); answers whether it has any. */
  private async storeSecrets(
    tx: SecretWrites,
    name: string,
    secrets: CredentialSecrets,
    hadSecret: boolean,
  ): Promise<boolean> {
    if (Object.keys(secrets).length > 0) {
      await tx.set(vaultEntryFor(name), JSON.stringify(secrets));
      for (const value of secretValues(secrets)) this.options.onSecret?.(value);
      return true;
    }
    if (hadSecret) tx.deleteAfterSave(vaultEntryFor(name));
    return false;
  }

  private async secretsOf(
    name: string,
    read: (entry: string) => Promise<string | null> = (entry) => this.options.vault.get(entry),
  ): Promise<CredentialSecrets> {
    const text = await read(vaultEntryFor(name));
    if (!text) return {};
    const parsed = SecretsSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new OpenIrError('VAULT_UNAVAILABLE', `The secrets of the credential "${name}" are unreadable.`, {
        fix: `Set them again with \`openir credential set ${name} … --secret-stdin\`.`,
      });
    }
    for (const value of secretValues(parsed.data)) this.options.onSecret?.(value);
    return parsed.data;
  }

  /**
   * One change of the file and its vault entries, in order with every other.
   * Secrets are written before the file and old ones deleted only after it, and
   * a failure puts the overwritten secrets back: the file and the vault never
   * disagree about a credential, whatever fails in between.
   */
  private mutate<T>(
    change: (file: CredentialsFile, tx: SecretWrites) => Promise<T>,
    changedAnything: (result: T) => boolean = () => true,
  ): Promise<T> {
    const run = this.queue.then(async () => {
      const file = await this.read();
      const tx = new SecretWrites(this.options.vault);
      try {
        const result = await change(file, tx);
        if (!changedAnything(result)) return result;
        await writeFileAtomic(this.file, `${JSON.stringify(file, null, 2)}\n`);
        await tx.commit();
        return result;
      } catch (error) {
        await tx.rollback();
        throw error;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<CredentialsFile> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, credentials: {}, deleted: {} };
      throw error;
    }
    const parsed = FileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new OpenIrError('INVALID_INPUT', `The credentials file ${this.file} is damaged.`, {
        fix: 'Restore it from a backup, or move it away and set the credentials again.',
      });
    }
    return parsed.data;
  }

  private now(): string {
    return (this.options.clock ?? (() => new Date()))().toISOString();
  }

  private origin(): string {
    return this.options.origin?.() ?? '';
  }
}

/** Vault writes of one credential-store change, undone if the change fails. */
class SecretWrites {
  private readonly before = new Map<string, string | null>();
  private readonly deletions = new Set<string>();

  constructor(private readonly vault: SecretVault) {}

  /** An entry as it was before this change: read once, and kept for a rollback of a later set. */
  async get(name: string): Promise<string | null> {
    if (!this.before.has(name)) this.before.set(name, await this.vault.get(name));
    return this.before.get(name) ?? null;
  }

  async set(name: string, value: string): Promise<void> {
    await this.get(name);
    this.deletions.delete(name);
    await this.vault.set(name, value);
  }

  deleteAfterSave(name: string): void {
    this.deletions.add(name);
  }

  async commit(): Promise<void> {
    // The file no longer refers to these; a failure here leaves an unused entry, never a missing one.
    for (const name of this.deletions) await this.vault.delete(name).catch(() => undefined);
  }

  async rollback(): Promise<void> {
    for (const [name, value] of this.before) {
      await (value === null ? this.vault.delete(name) : this.vault.set(name, value)).catch(() => undefined);
    }
  }
}

function notFound(name: string): OpenIrError {
  return new OpenIrError(
    'CREDENTIAL_NOT_FOUND',
    `There is no data store credential named "${name}" on this node.`,
    {
      fix: `List them with \`openir credential list\`, or create it with \`openir credential set ${name} --type …\` (it then syncs to the other nodes of the integration runtime).`,
    },
  );
}

/** A credential's fields and secrets as a job (or a connection test) takes them. */
function resolvedOf(
  name: string,
  type: CredentialType,
  f: CredentialRecord['fields'],
  secrets: CredentialSecrets,
): ResolvedCredential {
  switch (type) {
    case 'localFolder':
      return { name, type: 'localFolder', root: String(f.root) };
    case 'http':
      return {
        name,
        type: 'http',
        baseUrl: String(f.baseUrl),
        headers: secrets.headers ?? {},
        ...(secrets.bearerToken ? { bearerToken: secrets.bearerToken } : {}),
      };
    case 'postgresql':
    case 'mysql':
      return {
        name,
        type,
        host: String(f.host),
        port: Number(f.port),
        database: String(f.database),
        user: String(f.user),
        ssl: Boolean(f.ssl),
        ...(secrets.password ? { password: secrets.password } : {}),
      };
    case 'azureBlob':
      return {
        name,
        type: 'azureBlob',
        accountUrl: String(f.accountUrl),
        container: String(f.container),
        auth: f.auth === 'sas' || f.auth === 'connectionString' ? f.auth : 'key',
        ...(secrets.secret ? { secret: secrets.secret } : {}),
      };
    case 'sftp':
      return {
        name,
        type: 'sftp',
        host: String(f.host),
        port: Number(f.port),
        user: String(f.user),
        root: String(f.root),
        auth: f.auth === 'privateKey' ? 'privateKey' : 'password',
        hostKey: String(f.hostKey),
        ...(secrets.password ? { password: secrets.password } : {}),
        ...(secrets.privateKey ? { privateKey: secrets.privateKey } : {}),
        ...(secrets.passphrase ? { passphrase: secrets.passphrase } : {}),
      };
  }
}
