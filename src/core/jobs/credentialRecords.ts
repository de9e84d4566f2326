import path from 'node:path';
import { z } from 'zod';
import {
  type BlobAuth,
  type SftpAuth,
  CredentialInputSchema,
  CredentialNameSchema,
  CredentialTypeSchema,
  type CredentialInput,
  type CredentialView,
} from '../../shared/credentials';

/*
 * What the credential store keeps and nodes exchange for each data store
 * credential, and how each credential type maps to non-secret fields (the
 * file), secrets (the vault) and its view. Pure: no disk, no vault; the store
 * does that. A new credential type is taught here (split, toView,
 * invalidRecord, secretValues) and in the shared schemas.
 */

/**
 * A peer may send versions up to 2^30; this node counts on from there, and the
 * file takes up to 2^31, so no run of local changes after a peer's highest
 * version can make the file unreadable.
 */
export const MAX_SYNCED_VERSION = 2 ** 30;
export const MAX_STORED_VERSION = 2 ** 31;

/** Non-secret fields, per credential, in `credentials.json`; the secrets sit in one vault entry each. */
export const RecordSchema = z.object({
  type: CredentialTypeSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  fields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])),
  hasSecret: z.boolean(),
  /** Sync version: the highest wins between nodes (files from before HA read as 1). */
  version: z.number().int().positive().max(MAX_STORED_VERSION).default(1),
  /** Node id that made this version ('' before registration); breaks ties between equal versions. */
  origin: z.string().default(''),
});
export type CredentialRecord = z.infer<typeof RecordSchema>;
/** A deleted credential's version, kept so an older copy on a peer does not bring it back. */
export const TombstoneSchema = z.object({
  version: z.number().int().positive().max(MAX_STORED_VERSION),
  updatedAt: z.string(),
  origin: z.string(),
});
export const FileSchema = z.object({
  version: z.literal(1),
  credentials: z.record(z.string(), RecordSchema),
  deleted: z.record(z.string(), TombstoneSchema).default({}),
});
export type CredentialsFile = z.infer<typeof FileSchema>;

export const SecretsSchema = z.object({
  password: z.string().optional(),
  bearerToken: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** azureBlob: the account key, SAS token or connection string. */
  secret: z.string().optional(),
  /** sftp: the private key's text (the file's content, not its path) and its passphrase. */
  privateKey: z.string().optional(),
  passphrase: z.string().optional(),
});

/** One credential as nodes exchange it when they sync: a version with its fields and secrets, or a deletion. */
export const SyncEntrySchema = z.object({
  name: CredentialNameSchema,
  version: z.number().int().positive().max(MAX_SYNCED_VERSION),
  updatedAt: z.iso.datetime(),
  origin: z.string().max(100),
  deleted: z.boolean(),
  record: RecordSchema.omit({ version: true, origin: true, updatedAt: true }).optional(),
  secrets: SecretsSchema.optional(),
});
export type SyncEntry = z.infer<typeof SyncEntrySchema>;

export type Stamp = Pick<SyncEntry, 'version' | 'updatedAt' | 'origin'>;
export const stampOf = ({ version, updatedAt, origin }: Stamp): Stamp => ({ version, updatedAt, origin });

/** One line of what a node holds: a credential's (or deletion's) version, never its fields or secrets. */
export const ManifestEntrySchema = SyncEntrySchema.pick({
  name: true,
  version: true,
  updatedAt: true,
  origin: true,
  deleted: true,
});
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

/** Whether `a` is a later change than `b`: higher version, then later time, then node id, so every node picks the same. */
export function isNewer(a: Stamp, b: Stamp | undefined): boolean {
  if (!b) return true;
  if (a.version !== b.version) return a.version > b.version;
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt;
  return a.origin > b.origin;
}

export type CredentialSecrets = z.infer<typeof SecretsSchema>;

/** A credential resolved for a job: its fields and its secrets, kept in memory only while the job runs. */
export type ResolvedCredential =
  | { name: string; type: 'localFolder'; root: string }
  | { name: string; type: 'http'; baseUrl: string; headers: Record<string, string>; bearerToken?: string }
  | {
      name: string;
      type: 'postgresql';
      host: string;
      port: number;
      database: string;
      user: string;
      ssl: boolean;
      password?: string;
    }
  | {
      name: string;
      type: 'azureBlob';
      accountUrl: string;
      container: string;
      auth: BlobAuth;
      secret?: string;
    }
  | {
      name: string;
      type: 'mysql';
      host: string;
      port: number;
      database: string;
      user: string;
      ssl: boolean;
      password?: string;
    }
  | {
      name: string;
      type: 'sftp';
      host: string;
      port: number;
      user: string;
      root: string;
      auth: SftpAuth;
      hostKey: string;
      password?: string;
      privateKey?: string;
      passphrase?: string;
    };

/** Why a synced record is not one `set()` would have stored, or null: the same rules apply to every source. */
export function invalidRecord(
  name: string,
  record: Omit<CredentialRecord, 'version' | 'origin' | 'updatedAt'>,
): string | null {
  const f = record.fields;
  const input =
    record.type === 'localFolder'
      ? { name, type: record.type, root: f.root }
      : record.type === 'http'
        ? { name, type: record.type, baseUrl: f.baseUrl }
        : record.type === 'azureBlob'
          ? { name, type: record.type, accountUrl: f.accountUrl, container: f.container, auth: f.auth }
          : record.type === 'sftp'
            ? {
                name,
                type: record.type,
                host: f.host,
                port: f.port,
                user: f.user,
                root: f.root,
                auth: f.auth,
                hostKey: f.hostKey,
              }
            : {
                name,
                type: record.type,
                host: f.host,
                port: f.port,
                database: f.database,
                user: f.user,
                ssl: f.ssl,
              };
  const parsed = CredentialInputSchema.safeParse(
    f.allowFactories === undefined ? input : { ...input, allowFactories: f.allowFactories },
  );
  if (!parsed.success) return parsed.error.issues.map((issue) => issue.message).join(' ');
  if (parsed.data.type === 'localFolder' && !path.isAbsolute(parsed.data.root))
    return 'The folder is not an absolute path.';
  return null;
}

export function manifestOf(file: CredentialsFile): ManifestEntry[] {
  return [
    ...Object.entries(file.credentials).map(([name, r]) => ({ name, ...stampOf(r), deleted: false })),
    ...Object.entries(file.deleted).map(([name, t]) => ({ name, ...stampOf(t), deleted: true })),
  ];
}

/** The factories a record lets use it (names, deduplicated case-insensitively); [] when the field is absent. */
export function allowFactoriesOf(record: Pick<CredentialRecord, 'fields'>): string[] {
  const value = record.fields.allowFactories;
  return Array.isArray(value) ? value : [];
}

export function split(
  input: CredentialInput,
  kept: CredentialSecrets,
): { fields: CredentialRecord['fields']; secrets: CredentialSecrets } {
  const typed = splitByType(input, kept);
  const seen = new Set<string>();
  const allow = (input.allowFactories ?? []).filter((name) => {
    const key = name.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // A non-secret field: it lives in credentials.json and syncs to the peers with the rest of the record.
  return allow.length > 0 ? { ...typed, fields: { ...typed.fields, allowFactories: allow } } : typed;
}

function splitByType(
  input: CredentialInput,
  kept: CredentialSecrets,
): { fields: CredentialRecord['fields']; secrets: CredentialSecrets } {
  switch (input.type) {
    case 'localFolder':
      return { fields: { root: path.resolve(input.root) }, secrets: {} };
    case 'http': {
      const headers = input.headers ?? kept.headers;
      const bearerToken = input.bearerToken ?? kept.bearerToken;
      return {
        fields: {
          baseUrl: input.baseUrl,
          headerNames: Object.keys(headers ?? {}).sort(),
          hasBearerToken: Boolean(bearerToken),
        },
        secrets: {
          ...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
          ...(bearerToken ? { bearerToken } : {}),
        },
      };
    }
    case 'postgresql':
    case 'mysql': {
      const password = input.password ?? kept.password;
      return {
        fields: {
          host: input.host,
          port: input.port,
          database: input.database,
          user: input.user,
          ssl: input.ssl,
        },
        secrets: password ? { password } : {},
      };
    }
    case 'azureBlob': {
      // A secret of one auth kind means nothing for another: a changed kind needs its own.
      const secret = input.secret ?? kept.secret;
      return {
        fields: { accountUrl: input.accountUrl, container: input.container, auth: input.auth },
        secrets: secret ? { secret } : {},
      };
    }
    case 'sftp': {
      // The store passes no kept secrets when the sign-in kind changed: a password is no key.
      const fields = {
        host: input.host,
        port: input.port,
        user: input.user,
        root: input.root,
        auth: input.auth,
        hostKey: input.hostKey,
      };
      if (input.auth === 'password') {
        const password = input.password ?? kept.password;
        return { fields, secrets: password ? { password } : {} };
      }
      // A new key comes with its own passphrase (or none); the saved one belongs to the saved key.
      const privateKey = input.privateKey ?? kept.privateKey;
      const passphrase =
        input.privateKey !== undefined ? input.passphrase : (input.passphrase ?? kept.passphrase);
      return {
        fields,
        secrets: {
          ...(privateKey ? { privateKey } : {}),
          ...(privateKey && passphrase ? { passphrase } : {}),
        },
      };
    }
  }
}

export function toView(name: string, record: CredentialRecord): CredentialView {
  const f = record.fields;
  const base = {
    name,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
    allowFactories: allowFactoriesOf(record),
  };
  switch (record.type) {
    case 'localFolder':
      return { ...base, type: 'localFolder', root: String(f.root) };
    case 'http':
      return {
        ...base,
        type: 'http',
        baseUrl: String(f.baseUrl),
        headerNames: Array.isArray(f.headerNames) ? f.headerNames : [],
        hasBearerToken: f.hasBearerToken === true,
      };
    case 'postgresql':
    case 'mysql':
      return {
        ...base,
        type: record.type,
        host: String(f.host),
        port: Number(f.port),
        database: String(f.database),
        user: String(f.user),
        ssl: Boolean(f.ssl),
        hasPassword: record.hasSecret,
      };
    case 'azureBlob':
      return {
        ...base,
        type: 'azureBlob',
        accountUrl: String(f.accountUrl),
        container: String(f.container),
        auth: f.auth === 'sas' || f.auth === 'connectionString' ? f.auth : 'key',
        hasSecret: record.hasSecret,
      };
    case 'sftp':
      return {
        ...base,
        type: 'sftp',
        host: String(f.host),
        port: Number(f.port),
        user: String(f.user),
        root: String(f.root),
        auth: f.auth === 'privateKey' ? 'privateKey' : 'password',
        hostKey: String(f.hostKey),
        hasSecret: record.hasSecret,
      };
  }
}

export function secretValues(secrets: CredentialSecrets): string[] {
  // A connection string's key or signature alone is a secret too (a log may quote just that part).
  const parts = (secrets.secret ?? '')
    .split(';')
    .map((part) => /^(AccountKey|SharedAccessSignature)=(.+)$/i.exec(part.trim())?.[2])
    .filter((v): v is string => typeof v === 'string' && v.length >= 8);
  return [
    secrets.password,
    secrets.bearerToken,
    secrets.secret,
    secrets.privateKey,
    secrets.passphrase,
    ...parts,
    ...Object.values(secrets.headers ?? {}),
  ].filter((v): v is string => typeof v === 'string');
}
