import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  CredentialTypeSchema,
  type CredentialInput,
  type CredentialType,
  type CredentialView,
} from '../../shared/credentials';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import type { SecretVault } from '../vault';

/** Non-secret fields, per credential, in `credentials.json`; the secrets sit in one vault entry each. */
const RecordSchema = z.object({
  type: CredentialTypeSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  fields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])),
  hasSecret: z.boolean(),
});
type CredentialRecord = z.infer<typeof RecordSchema>;
const FileSchema = z.object({ version: z.literal(1), credentials: z.record(z.string(), RecordSchema) });
type CredentialsFile = z.infer<typeof FileSchema>;

const SecretsSchema = z.object({
  password: z.string().optional(),
  bearerToken: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});
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
    };

export interface CredentialStoreOptions {
  dataDir: string;
  vault: SecretVault;
  clock?: () => Date;
  /** Every secret the node learns is redacted from its logs. */
  onSecret?: (secret: string) => void;
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
    return this.mutate(async (file) => {
      const now = this.now();
      const previous = file.credentials[input.name];
      const kept = previous?.type === input.type ? await this.secretsOf(input.name) : {};
      const { fields, secrets } = split(input, kept);
      const hasSecret = Object.keys(secrets).length > 0;
      // Secret first: a crash between the two writes leaves an unused vault entry, never a credential without its secret.
      if (hasSecret) {
        await this.options.vault.set(vaultEntryFor(input.name), JSON.stringify(secrets));
        for (const value of secretValues(secrets)) this.options.onSecret?.(value);
      } else if (previous?.hasSecret) {
        await this.options.vault.delete(vaultEntryFor(input.name));
      }
      const record: CredentialRecord = {
        type: input.type,
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
        fields,
        hasSecret,
      };
      file.credentials[input.name] = record;
      return toView(input.name, record);
    });
  }

  delete(name: string): Promise<CredentialView> {
    return this.mutate(async (file) => {
      const record = file.credentials[name];
      if (!record) throw notFound(name);
      delete file.credentials[name];
      if (record.hasSecret) await this.options.vault.delete(vaultEntryFor(name));
      return toView(name, record);
    });
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
    const f = record.fields;
    switch (record.type) {
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
        return {
          name,
          type: 'postgresql',
          host: String(f.host),
          port: Number(f.port),
          database: String(f.database),
          user: String(f.user),
          ssl: Boolean(f.ssl),
          ...(secrets.password ? { password: secrets.password } : {}),
        };
    }
  }

  private async secretsOf(name: string): Promise<CredentialSecrets> {
    const text = await this.options.vault.get(vaultEntryFor(name));
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

  private mutate<T>(change: (file: CredentialsFile) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const file = await this.read();
      const result = await change(file);
      await writeFileAtomic(this.file, `${JSON.stringify(file, null, 2)}\n`);
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<CredentialsFile> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, credentials: {} };
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
}

function split(
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
    case 'postgresql': {
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
  }
}

function toView(name: string, record: CredentialRecord): CredentialView {
  const f = record.fields;
  const base = { name, createdAt: record.createdAt, updatedAt: record.updatedAt };
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
      return {
        ...base,
        type: 'postgresql',
        host: String(f.host),
        port: Number(f.port),
        database: String(f.database),
        user: String(f.user),
        ssl: Boolean(f.ssl),
        hasPassword: record.hasSecret,
      };
  }
}

function secretValues(secrets: CredentialSecrets): string[] {
  return [secrets.password, secrets.bearerToken, ...Object.values(secrets.headers ?? {})].filter(
    (v): v is string => typeof v === 'string',
  );
}

function notFound(name: string): OpenIrError {
  return new OpenIrError(
    'CREDENTIAL_NOT_FOUND',
    `There is no data store credential named "${name}" on this node.`,
    {
      fix: `List them with \`openir credential list\`, or create it with \`openir credential set ${name} --type …\` on every node of the integration runtime.`,
    },
  );
}
