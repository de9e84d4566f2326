import { z } from 'zod';

/**
 * Data store credentials (linked services). They live only on the nodes; the
 * control plane and jobs refer to them by name. Secrets (passwords, tokens,
 * header values) cross the contract only on the way in: no output carries one.
 */
export const CREDENTIAL_TYPES = ['localFolder', 'http', 'postgresql', 'azureBlob', 'mysql', 'sftp'] as const;
export const CredentialTypeSchema = z.enum(CREDENTIAL_TYPES);
export type CredentialType = z.infer<typeof CredentialTypeSchema>;

/** No ":" so `<credential>:<path>` in a job spec splits without ambiguity. */
export const CredentialNameSchema = z
  .string()
  .trim()
  .min(1, 'The credential name is empty.')
  .max(64, 'The credential name is longer than 64 characters.')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'The credential name may contain letters, digits, ".", "_" and "-" only.',
  );

const SecretSchema = z.string().min(1).max(8192);

/** No control characters (NUL, CR, LF, …): host names, users, database names and paths go into protocols, files and logs. */
const plain = (schema: z.ZodString) =>
  schema.refine(
    (value) => !hasControlCharacter(value),
    'Control characters (such as NUL or a line break) are not allowed here.',
  );

/** C0 controls and DEL; `allowTab` for header values, where a tab is legal. */
export function hasControlCharacter(value: string, allowTab = false): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && !(allowTab && c === 0x09)) || c === 0x7f) return true;
  }
  return false;
}

/**
 * An absolute folder of the node, written as the node's OS writes it: "/…" or
 * "C:\…" (or a UNC path). A relative one would be resolved against the host
 * process's working directory, which nobody chose.
 */
export const AbsoluteFolderSchema = plain(z.string().min(1).max(4096)).refine(
  (value) => /^(?:\/|[A-Za-z]:[\\/]|\\\\)/.test(value),
  'The folder must be an absolute path (e.g. /srv/data or C:\\data).',
);

/** How an azureBlob credential signs in: the account key, a SAS token, or a connection string. */
export const BLOB_AUTH_KINDS = ['key', 'sas', 'connectionString'] as const;
export const BlobAuthSchema = z.enum(BLOB_AUTH_KINDS);
export type BlobAuth = z.infer<typeof BlobAuthSchema>;

/**
 * `https://<account>.blob.core.windows.net`, or an emulator's
 * `http://host:port/<account>`: the account name is the first label of the
 * host, or the first path segment when the host is an IP address or localhost.
 */
export const BlobAccountUrlSchema = z
  .string()
  .url()
  .refine((url) => /^https?:\/\/[^/?#]+(\/[^/?#]+)?\/?$/i.test(url), {
    message:
      'The account URL must be https://<account>.blob.core.windows.net or an emulator URL such as http://127.0.0.1:10000/devstoreaccount1 (no container, no query).',
  });

/** Azure's container naming rules: 3 to 63 lowercase letters, digits and single hyphens. */
export const BlobContainerSchema = z
  .string()
  .regex(
    /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
    'A container name has 3 to 63 lowercase letters, digits and single hyphens, e.g. exports.',
  );
/** How an sftp credential signs in: a password, or a private key (with an optional passphrase). */
export const SFTP_AUTH_KINDS = ['password', 'privateKey'] as const;
export const SftpAuthSchema = z.enum(SFTP_AUTH_KINDS);
export type SftpAuth = z.infer<typeof SftpAuthSchema>;

/** An SSH host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:` and 43 unpadded base64 characters. */
export const SftpHostKeySchema = z
  .string()
  .trim()
  .regex(
    /^SHA256:[A-Za-z0-9+/]{43}$/,
    'The host key fingerprint must look like SHA256:… (43 base64 characters), as `ssh-keygen -lf` prints it.',
  );

/** The folder on the SFTP server every job path is under: absolute, or relative to the login folder. */
export const SftpRootSchema = plain(z.string().min(1).max(4096)).refine(
  (root) => !root.split('/').includes('..'),
  'The root path may not contain "..".',
);

const HeaderNameSchema = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'Not a valid HTTP header name.');

/**
 * A database server credential's input (PostgreSQL, MySQL): the same fields,
 * with the engine's default port and its own limits on name lengths.
 */
function databaseServerFields(defaultPort: number, databaseMax: number, userMax: number) {
  return {
    host: plain(z.string().min(1).max(253)),
    port: z.number().int().min(1).max(65535).default(defaultPort),
    database: plain(z.string().min(1).max(databaseMax)),
    user: plain(z.string().min(1).max(userMax)),
    ssl: z.boolean().default(true),
    /** Absent on update keeps the saved one. */
    password: SecretSchema.optional(),
  };
}

/** Most factories one credential may list: more would be a sign of a mistake, and the file stays small. */
export const MAX_ALLOW_FACTORIES = 100;

/** A data factory's name as the control plane spells it (`openir-control-plane factory create <name>`). */
export const FactoryNameSchema = plain(z.string().trim().min(1).max(80)).refine(
  (name) => !/[/\s,]/.test(name),
  'A data factory name has no slash, comma or whitespace.',
);

/**
 * Which data factories' jobs may use the credential besides the factory that owns this node's IR:
 * the linked factories of a shared IR (issue 17). Empty or absent: the owner's jobs only.
 */
const ScopeShape = {
  allowFactories: z.array(FactoryNameSchema).max(MAX_ALLOW_FACTORIES).optional(),
};

export const CredentialInputSchema = z.discriminatedUnion('type', [
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('localFolder'),
      /** Absolute folder every path of this credential is relative to. */
      root: AbsoluteFolderSchema,
    })
    .strict(),
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('http'),
      baseUrl: z
        .string()
        .url()
        .refine((url) => /^https?:\/\//i.test(url), 'The base URL must start with http:// or https://.'),
      /** Header values are treated as secrets (API keys travel in headers): kept in the vault. */
      // A tab is allowed in a header value; CR, LF and NUL would end or split the header.
      headers: z
        .record(
          HeaderNameSchema,
          z
            .string()
            .max(8192)
            .refine(
              (value) => !hasControlCharacter(value, true),
              'A header value cannot contain control characters.',
            ),
        )
        .optional(),
      /** Sent as `Authorization: Bearer …`; absent on update keeps the saved one. */
      bearerToken: SecretSchema.optional(),
    })
    .strict(),
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('postgresql'),
      ...databaseServerFields(5432, 63, 63),
    })
    .strict(),
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('azureBlob'),
      accountUrl: BlobAccountUrlSchema,
      container: BlobContainerSchema,
      auth: BlobAuthSchema,
      /** The account key, SAS token or connection string, as `auth` says; absent on update keeps the saved one. */
      secret: SecretSchema.optional(),
    })
    .strict(),
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('mysql'),
      ...databaseServerFields(3306, 64, 80),
    })
    .strict(),
  z
    .object({
      name: CredentialNameSchema,
      ...ScopeShape,
      type: z.literal('sftp'),
      host: plain(z.string().min(1).max(253)),
      port: z.number().int().min(1).max(65535).default(22),
      user: plain(z.string().min(1).max(255)),
      root: SftpRootSchema.default('/'),
      auth: SftpAuthSchema,
      /** Pinned: a server that shows another key is refused before any sign-in is sent. */
      hostKey: SftpHostKeySchema,
      /** auth password: absent on update keeps the saved one. */
      password: SecretSchema.optional(),
      /** auth privateKey: the key file's text (OpenSSH or PEM), kept in the vault; absent on update keeps the saved one. */
      privateKey: z.string().min(1).max(32_768).optional(),
      /** The private key's passphrase, if it has one. */
      passphrase: SecretSchema.optional(),
    })
    .strict(),
]);
export type CredentialInput = z.infer<typeof CredentialInputSchema>;

const ViewBase = {
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Grows with every change on any node of the IR; the highest version wins when nodes sync. */
  version: z.number().int().positive(),
  /** Linked factories whose jobs may use it (a shared IR); empty: the owning factory's jobs only. */
  allowFactories: z.array(z.string()),
};

/** What list and set answer: names and non-secret fields, and only whether each secret is set. */
export const CredentialViewSchema = z.discriminatedUnion('type', [
  z.object({ ...ViewBase, type: z.literal('localFolder'), root: z.string() }),
  z.object({
    ...ViewBase,
    type: z.literal('http'),
    baseUrl: z.string(),
    headerNames: z.array(z.string()),
    hasBearerToken: z.boolean(),
  }),
  z.object({
    ...ViewBase,
    type: z.literal('postgresql'),
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    user: z.string(),
    ssl: z.boolean(),
    hasPassword: z.boolean(),
  }),
  z.object({
    ...ViewBase,
    type: z.literal('azureBlob'),
    accountUrl: z.string(),
    container: z.string(),
    auth: BlobAuthSchema,
    hasSecret: z.boolean(),
  }),
  z.object({
    ...ViewBase,
    type: z.literal('mysql'),
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    user: z.string(),
    ssl: z.boolean(),
    hasPassword: z.boolean(),
  }),
  z.object({
    ...ViewBase,
    type: z.literal('sftp'),
    host: z.string(),
    port: z.number().int(),
    user: z.string(),
    root: z.string(),
    auth: SftpAuthSchema,
    hostKey: z.string(),
    /** The password or private key is saved. */
    hasSecret: z.boolean(),
  }),
]);
export type CredentialView = z.infer<typeof CredentialViewSchema>;

/** The node's job settings: local folder path validation and the concurrent jobs limit. */
export const JobSettingsViewSchema = z.object({
  /** Real paths jobs may read and write; empty means no local path at all. */
  allowedFolders: z.array(z.string()),
  concurrentJobsLimit: z.object({
    /** The limit in force. */
    effective: z.number().int().positive(),
    /** Set by the administrator; null means the default. */
    configured: z.number().int().positive().nullable(),
    /** Chosen from this machine's cores and memory. */
    default: z.number().int().positive(),
  }),
});
export type JobSettingsView = z.infer<typeof JobSettingsViewSchema>;

export const MAX_CONCURRENT_JOBS_LIMIT = 256;

/** The credentials on this node, as `listCredentials` answers and `credentialsChanged` pushes them. */
export const CredentialListSchema = z.object({ credentials: z.array(CredentialViewSchema) });

export const DeleteCredentialInputSchema = z.object({ name: CredentialNameSchema }).strict();

/** A folder for the allow-list (`allowFolder`, `disallowFolder`): absolute; the host stores its real path. */
export const FolderInputSchema = z.object({ path: z.string().min(1).max(4096) }).strict();

/** null goes back to the default from cores and memory. */
export const SetConcurrentJobsLimitInputSchema = z
  .object({ limit: z.number().int().min(1).max(MAX_CONCURRENT_JOBS_LIMIT).nullable() })
  .strict();
