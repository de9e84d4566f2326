import {
  BLOB_AUTH_KINDS,
  type BlobAuth,
  SFTP_AUTH_KINDS,
  type SftpAuth,
  CREDENTIAL_TYPES,
  CredentialInputSchema,
  CredentialNameSchema,
  type CredentialInput,
  type CredentialType,
  type CredentialView,
} from '../../../shared/credentials';

/**
 * The data store credential dialog's form: its words, its checks (the shared schema's messages) and
 * form → CredentialInput. Secrets are typed into the form and sent; they are never read back (an empty
 * secret field on edit keeps the saved one).
 */

export const CREDENTIAL_TYPE_LABEL: Record<CredentialType, string> = {
  localFolder: 'Local folder',
  http: 'HTTP(S) endpoint',
  postgresql: 'PostgreSQL',
  azureBlob: 'Azure Blob Storage',
  mysql: 'MySQL / MariaDB',
  sftp: 'SFTP server',
};

export const CREDENTIAL_TYPE_HELP: Record<CredentialType, string> = {
  localFolder: 'Files under a folder of this node. The folder must be inside an allowed folder (Jobs).',
  http: 'GET from a web server, with an optional bearer token and secret headers.',
  postgresql: 'A query on a PostgreSQL server, streamed row by row.',
  azureBlob: 'Blobs in a container of a storage account: read in parallel ranges, written as block blobs.',
  mysql: 'A SELECT on a MySQL or MariaDB server, in a read-only transaction, streamed row by row.',
  sftp: 'Files on an SSH server, over SFTP: its host key is pinned, files are written under a temporary name.',
};

export { BLOB_AUTH_KINDS, CREDENTIAL_TYPES, SFTP_AUTH_KINDS };

export const SFTP_AUTH_LABEL: Record<SftpAuth, string> = {
  password: 'Password',
  privateKey: 'Private key',
};

export const SFTP_AUTH_HELP: Record<SftpAuth, string> = {
  password: 'The user’s password on the server.',
  privateKey: 'An OpenSSH or PEM private key whose public key is in the user’s authorized_keys.',
};

export const BLOB_AUTH_LABEL: Record<BlobAuth, string> = {
  key: 'Account key',
  sas: 'SAS token',
  connectionString: 'Connection string',
};

export const BLOB_AUTH_HELP: Record<BlobAuth, string> = {
  key: 'The storage account’s access key (full access to the account).',
  sas: 'A shared access signature; to write only, create and write permission are enough.',
  connectionString: 'AccountName=…;AccountKey=… or …;SharedAccessSignature=…, as the portal shows it.',
};

/** The secret in a sentence: "Enter the SAS token.", "SAS token saved". */
const BLOB_SECRET_WORDS: Record<BlobAuth, string> = {
  key: 'account key',
  sas: 'SAS token',
  connectionString: 'connection string',
};

/** What the secret field is called for each auth kind (not the choice's own label: each label names one control). */
export const BLOB_SECRET_LABEL: Record<BlobAuth, string> = {
  key: 'Account key (secret)',
  sas: 'SAS token (secret)',
  connectionString: 'Connection string (secret)',
};

export interface HeaderRow {
  name: string;
  value: string;
}

export interface CredentialForm {
  name: string;
  type: CredentialType;
  root: string;
  baseUrl: string;
  bearerToken: string;
  headers: HeaderRow[];
  host: string;
  port: string;
  database: string;
  user: string;
  ssl: boolean;
  password: string;
  accountUrl: string;
  container: string;
  blobAuth: BlobAuth;
  blobSecret: string;
  sftpAuth: SftpAuth;
  privateKey: string;
  passphrase: string;
  hostKey: string;
  /** Linked data factories whose jobs may use it, comma-separated; empty: the owning factory's only. */
  allowFactories: string;
}

export type CredentialField =
  | 'name'
  | 'root'
  | 'baseUrl'
  | 'bearerToken'
  | 'headers'
  | 'host'
  | 'port'
  | 'database'
  | 'user'
  | 'password'
  | 'accountUrl'
  | 'container'
  | 'blobSecret'
  | 'privateKey'
  | 'passphrase'
  | 'hostKey'
  | 'allowFactories';

export const FIELDS_OF: Record<CredentialType, CredentialField[]> = {
  localFolder: ['name', 'root'],
  http: ['name', 'baseUrl', 'bearerToken', 'headers'],
  postgresql: ['name', 'host', 'port', 'database', 'user', 'password'],
  azureBlob: ['name', 'accountUrl', 'container', 'blobSecret'],
  mysql: ['name', 'host', 'port', 'database', 'user', 'password'],
  sftp: ['name', 'host', 'port', 'user', 'root', 'password', 'privateKey', 'passphrase', 'hostKey'],
};

const DEFAULT_PORTS: Partial<Record<CredentialType, string>> = {
  postgresql: '5432',
  mysql: '3306',
  sftp: '22',
};

/** The port to show when the type changes: the new type's default, unless the user typed another one. */
export function defaultPortFor(type: CredentialType, port: string): string {
  const defaults = Object.values(DEFAULT_PORTS);
  return port === '' || defaults.includes(port) ? (DEFAULT_PORTS[type] ?? port) : port;
}

export function emptyForm(): CredentialForm {
  return {
    name: '',
    type: 'localFolder',
    root: '',
    baseUrl: '',
    bearerToken: '',
    headers: [],
    host: '',
    port: '5432',
    database: '',
    user: '',
    ssl: true,
    password: '',
    accountUrl: '',
    container: '',
    blobAuth: 'key',
    blobSecret: '',
    sftpAuth: 'password',
    privateKey: '',
    passphrase: '',
    hostKey: '',
    allowFactories: '',
  };
}

/** The form for editing a saved credential: its non-secret fields; every secret field starts empty. */
export function formFromView(view: CredentialView): CredentialForm {
  const form = {
    ...emptyForm(),
    name: view.name,
    type: view.type,
    allowFactories: view.allowFactories.join(', '),
  };
  switch (view.type) {
    case 'localFolder':
      return { ...form, root: view.root };
    case 'http':
      return { ...form, baseUrl: view.baseUrl };
    case 'postgresql':
    case 'mysql':
      return {
        ...form,
        host: view.host,
        port: String(view.port),
        database: view.database,
        user: view.user,
        ssl: view.ssl,
      };
    case 'azureBlob':
      return { ...form, accountUrl: view.accountUrl, container: view.container, blobAuth: view.auth };
    case 'sftp':
      return {
        ...form,
        host: view.host,
        port: String(view.port),
        user: view.user,
        root: view.root,
        sftpAuth: view.auth,
        hostKey: view.hostKey,
      };
  }
}

/** The input to send, or the problems by field. `editing` makes secrets optional (empty keeps them). */
export function checkCredentialForm(
  form: CredentialForm,
  editing: CredentialView | null,
): { input: CredentialInput } | { problems: Partial<Record<CredentialField, string>> } {
  const problems: Partial<Record<CredentialField, string>> = {};
  const name = CredentialNameSchema.safeParse(form.name);
  if (!name.success) problems.name = name.error.issues[0]?.message ?? 'The name is not valid.';
  const headerRows = form.headers.filter((row) => row.name.trim() !== '' || row.value !== '');
  let input: unknown;
  switch (form.type) {
    case 'localFolder':
      if (!form.root.trim()) problems.root = 'Enter the absolute path of the folder.';
      else if (!/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(form.root.trim()))
        problems.root = 'The folder must be an absolute path, such as /srv/exports.';
      input = { name: form.name.trim(), type: 'localFolder', root: form.root.trim() };
      break;
    case 'http': {
      const baseUrl = form.baseUrl.trim();
      if (!/^https?:\/\/[^\s/]+/i.test(baseUrl))
        problems.baseUrl = 'Enter a URL that starts with http:// or https://.';
      if (headerRows.some((row) => !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(row.name.trim())))
        problems.headers = 'Every header needs a valid name (letters, digits and - only, e.g. X-Api-Key).';
      input = {
        name: form.name.trim(),
        type: 'http',
        baseUrl,
        ...(form.bearerToken ? { bearerToken: form.bearerToken } : {}),
        ...(headerRows.length > 0
          ? { headers: Object.fromEntries(headerRows.map((row) => [row.name.trim(), row.value])) }
          : {}),
      };
      break;
    }
    case 'postgresql':
    case 'mysql': {
      if (!form.host.trim()) problems.host = 'Enter the server name or IP address.';
      const port = Number(form.port.trim());
      if (!/^\d+$/.test(form.port.trim()) || port < 1 || port > 65535)
        problems.port = `Enter a port from 1 to 65535 (${form.type === 'mysql' ? 'MySQL uses 3306' : 'PostgreSQL uses 5432'}).`;
      if (!form.database.trim()) problems.database = 'Enter the database name.';
      if (!form.user.trim()) problems.user = 'Enter the user name.';
      const hasPassword = editing?.type === form.type && editing.hasPassword;
      if (!form.password && !hasPassword) problems.password = 'Enter the password of this user.';
      input = {
        name: form.name.trim(),
        type: form.type,
        host: form.host.trim(),
        port,
        database: form.database.trim(),
        user: form.user.trim(),
        ssl: form.ssl,
        ...(form.password ? { password: form.password } : {}),
      };
      break;
    }
    case 'azureBlob': {
      const accountUrl = form.accountUrl.trim();
      if (!/^https?:\/\/[^\s/]+/i.test(accountUrl))
        problems.accountUrl = 'Enter the account URL, such as https://myaccount.blob.core.windows.net.';
      if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(form.container.trim()))
        problems.container = 'A container name has 3 to 63 lowercase letters, digits and single hyphens.';
      // A saved secret is kept only for the same auth kind: a new kind needs its own secret.
      const kept = editing?.type === 'azureBlob' && editing.hasSecret && editing.auth === form.blobAuth;
      if (!form.blobSecret && !kept) problems.blobSecret = `Enter the ${BLOB_SECRET_WORDS[form.blobAuth]}.`;
      input = {
        name: form.name.trim(),
        type: 'azureBlob',
        accountUrl,
        container: form.container.trim(),
        auth: form.blobAuth,
        ...(form.blobSecret ? { secret: form.blobSecret.trim() } : {}),
      };
      break;
    }
    case 'sftp': {
      if (!form.host.trim()) problems.host = 'Enter the server name or IP address.';
      const port = Number(form.port.trim());
      if (!/^\d+$/.test(form.port.trim()) || port < 1 || port > 65535)
        problems.port = 'Enter a port from 1 to 65535 (SSH uses 22).';
      if (!form.user.trim()) problems.user = 'Enter the user name.';
      if (form.root.split('/').includes('..')) problems.root = 'The folder may not contain "..".';
      if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(form.hostKey.trim()))
        problems.hostKey = 'Enter the fingerprint as ssh-keygen -lf prints it: SHA256: and 43 characters.';
      const kept = editing?.type === 'sftp' && editing.hasSecret && editing.auth === form.sftpAuth;
      if (form.sftpAuth === 'password' && !form.password && !kept)
        problems.password = 'Enter the password of this user.';
      if (form.sftpAuth === 'privateKey' && !form.privateKey.trim() && !kept)
        problems.privateKey = 'Paste the private key, or load it from its file.';
      input = {
        name: form.name.trim(),
        type: 'sftp',
        host: form.host.trim(),
        port,
        user: form.user.trim(),
        root: form.root.trim() || '/',
        auth: form.sftpAuth,
        hostKey: form.hostKey.trim(),
        ...(form.sftpAuth === 'password' && form.password ? { password: form.password } : {}),
        ...(form.sftpAuth === 'privateKey' && form.privateKey.trim()
          ? { privateKey: `${form.privateKey.trim()}\n` }
          : {}),
        ...(form.sftpAuth === 'privateKey' && form.passphrase ? { passphrase: form.passphrase } : {}),
      };
      break;
    }
  }
  const allowFactories = splitFactories(form.allowFactories);
  if (allowFactories.some((factory) => !/^[^/\s,]{1,80}$/.test(factory)))
    problems.allowFactories = 'List data factory names separated by commas, e.g. factory-b, factory-c.';
  if (Object.keys(problems).length > 0) return { problems };
  const parsed = CredentialInputSchema.safeParse(
    allowFactories.length > 0 ? { ...(input as object), allowFactories } : input,
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = (issue?.path[0] as CredentialField | undefined) ?? 'name';
    return { problems: { [field]: issue?.message ?? 'Not valid.' } };
  }
  return { input: parsed.data };
}

/** "factory-b, factory-c" → the names; blanks dropped. */
export function splitFactories(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** The non-secret fields of a saved credential, in words, and which secrets are saved. */
export function credentialFacts(view: CredentialView): { label: string; value: string; mono?: boolean }[] {
  const scope =
    view.allowFactories.length > 0
      ? [{ label: 'Also for jobs of', value: view.allowFactories.join(', '), mono: true }]
      : [];
  return [...credentialFactsOfType(view), ...scope];
}

function credentialFactsOfType(view: CredentialView): { label: string; value: string; mono?: boolean }[] {
  switch (view.type) {
    case 'localFolder':
      return [{ label: 'Root folder', value: view.root, mono: true }];
    case 'http':
      return [
        { label: 'Base URL', value: view.baseUrl, mono: true },
        ...(view.headerNames.length > 0
          ? [{ label: 'Headers', value: view.headerNames.join(', '), mono: true }]
          : []),
      ];
    case 'postgresql':
    case 'mysql':
      return [
        { label: 'Server', value: `${view.host}:${view.port}`, mono: true },
        { label: 'Database', value: view.database, mono: true },
        { label: 'User', value: view.user, mono: true },
        { label: 'TLS', value: view.ssl ? 'Required' : 'Off' },
      ];
    case 'azureBlob':
      return [
        { label: 'Account URL', value: view.accountUrl, mono: true },
        { label: 'Container', value: view.container, mono: true },
        { label: 'Signs in with', value: BLOB_AUTH_LABEL[view.auth] },
      ];
    case 'sftp':
      return [
        { label: 'Server', value: `${view.user}@${view.host}:${view.port}`, mono: true },
        { label: 'Folder', value: view.root, mono: true },
        { label: 'Host key', value: view.hostKey, mono: true },
        { label: 'Signs in with', value: SFTP_AUTH_LABEL[view.auth] },
      ];
  }
}

/** "password saved", "bearer token saved", "2 header values saved": the secrets, by name only. */
export function savedSecrets(view: CredentialView): string[] {
  switch (view.type) {
    case 'localFolder':
      return [];
    case 'http':
      return [
        ...(view.hasBearerToken ? ['bearer token saved'] : []),
        ...(view.headerNames.length > 0
          ? [`${view.headerNames.length} header value${view.headerNames.length === 1 ? '' : 's'} saved`]
          : []),
      ];
    case 'postgresql':
    case 'mysql':
      return view.hasPassword ? ['password saved'] : ['no password'];
    case 'azureBlob':
      return view.hasSecret ? [`${BLOB_SECRET_WORDS[view.auth]} saved`] : ['no secret'];
    case 'sftp':
      return view.hasSecret
        ? [view.auth === 'password' ? 'password saved' : 'private key saved']
        : ['no secret'];
  }
}
