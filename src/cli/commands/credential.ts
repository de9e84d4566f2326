import path from 'node:path';
import type { Command } from 'commander';
import { CredentialInputSchema, type CredentialInput, type CredentialView } from '../../shared/credentials';
import { OpenIrError } from '../../shared/errors';
import { invalidInput } from '../../shared/invoke';
import { printResult, type CommandContext } from '../context';

interface SetFlags {
  type: string;
  root?: string;
  baseUrl?: string;
  header?: string[];
  host?: string;
  port?: string;
  database?: string;
  user?: string;
  ssl: boolean;
  accountUrl?: string;
  container?: string;
  auth?: string;
  secretStdin?: boolean;
}

/** `--auth` words on the command line → the contract's auth kinds. */
const BLOB_AUTH: Record<string, 'key' | 'sas' | 'connectionString'> = {
  key: 'key',
  sas: 'sas',
  'connection-string': 'connectionString',
};

/** `openir credential …`: data store credentials on this node; secrets only from standard input. */
export function addCredentialCommands(program: Command, ctx: CommandContext): void {
  const { run, ensureHost, readSecret } = ctx;
  const credential = program
    .command('credential')
    .description('data store credentials (linked services) that jobs use by name');

  credential
    .command('list')
    .description('list the credentials (never their secrets)')
    .action(
      run(async (o) => {
        const list = await (await ensureHost()).call('listCredentials', {});
        printResult(o, list, () =>
          list.credentials.length === 0
            ? 'No data store credentials yet. Add one with `openir credential set <name> --type localFolder --root <dir>`.'
            : list.credentials.map(formatCredential).join('\n'),
        );
      }),
    );

  credential
    .command('set')
    .description('create or replace a credential (an omitted secret keeps the saved one)')
    .argument('<name>', 'name jobs use, e.g. files or sales-db')
    .requiredOption('--type <type>', 'localFolder | http | postgresql | azureBlob | mysql')
    .option('--root <dir>', 'localFolder: the folder paths are relative to')
    .option('--base-url <url>', 'http: the endpoint, e.g. https://data.example/api/')
    .option('--header <name:value>', 'http: a header to send (repeatable; stored in the vault)', collect, [])
    .option('--host <host>', 'postgresql, mysql: server host')
    .option('--port <port>', 'postgresql, mysql: server port (default 5432 for postgresql, 3306 for mysql)')
    .option('--database <name>', 'postgresql, mysql: database')
    .option('--user <user>', 'postgresql, mysql: user')
    .option('--no-ssl', 'postgresql, mysql: connect without TLS')
    .option(
      '--account-url <url>',
      'azureBlob: https://<account>.blob.core.windows.net (or an emulator URL, e.g. http://127.0.0.1:10000/devstoreaccount1)',
    )
    .option('--container <name>', 'azureBlob: the container blobs are read from and written to')
    .option('--auth <kind>', 'azureBlob: key | sas | connection-string (the secret, from --secret-stdin)')
    .option(
      '--secret-stdin',
      'read the secret from standard input (http: bearer token; postgresql, mysql: password; azureBlob: account key, SAS token or connection string)',
    )
    .action(
      run(async (o, name: string, flags: SetFlags) => {
        const secret = flags.secretStdin ? await readSecret() : undefined;
        const parsed = CredentialInputSchema.safeParse(inputFrom(name, flags, secret));
        if (!parsed.success) throw invalidInput(parsed.error);
        const view = await (await ensureHost()).call('setCredential', parsed.data);
        printResult(o, view, () => `Saved.\n${formatCredential(view)}`);
      }),
    );

  credential
    .command('delete')
    .description('delete a credential and its secrets')
    .argument('<name>')
    .action(
      run(async (o, name: string) => {
        const view = await (await ensureHost()).call('deleteCredential', { name });
        printResult(o, view, () => `Deleted ${view.name} (${view.type}).`);
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function inputFrom(
  name: string,
  flags: SetFlags,
  secret: string | undefined,
): CredentialInput | Record<string, unknown> {
  const unused = (allowed: (keyof SetFlags)[]) => {
    const given: (keyof SetFlags)[] = [
      'root',
      'baseUrl',
      'host',
      'database',
      'user',
      'accountUrl',
      'container',
      'auth',
    ];
    const extra = given.filter((k) => flags[k] !== undefined && !allowed.includes(k));
    if (extra.length > 0) {
      throw new OpenIrError(
        'INVALID_INPUT',
        `--${extra.map(kebab).join(', --')} do not go with --type ${flags.type}.`,
        {
          fix: 'See `openir credential set --help`.',
        },
      );
    }
  };
  switch (flags.type) {
    case 'localFolder':
      unused(['root']);
      if (secret !== undefined)
        throw new OpenIrError('INVALID_INPUT', 'A localFolder credential has no secret.');
      if (!flags.root)
        throw new OpenIrError('INVALID_INPUT', '--root <dir> is required for --type localFolder.');
      return { name, type: 'localFolder', root: path.resolve(flags.root) };
    case 'http': {
      unused(['baseUrl']);
      if (!flags.baseUrl)
        throw new OpenIrError('INVALID_INPUT', '--base-url <url> is required for --type http.');
      const headers: Record<string, string> = {};
      for (const header of flags.header ?? []) {
        const colon = header.indexOf(':');
        if (colon <= 0)
          throw new OpenIrError('INVALID_INPUT', `--header must be "Name: value", not "${header}".`);
        headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
      }
      return {
        name,
        type: 'http',
        baseUrl: flags.baseUrl,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        ...(secret !== undefined ? { bearerToken: secret } : {}),
      };
    }
    case 'postgresql':
      unused(['host', 'database', 'user']);
      return {
        name,
        type: 'postgresql',
        host: flags.host ?? '',
        port: Number(flags.port ?? 5432),
        database: flags.database ?? '',
        user: flags.user ?? '',
        ssl: flags.ssl,
        ...(secret !== undefined ? { password: secret } : {}),
      };
    case 'mysql':
      unused(['host', 'database', 'user']);
      return {
        name,
        type: 'mysql',
        host: flags.host ?? '',
        port: Number(flags.port ?? 3306),
        database: flags.database ?? '',
        user: flags.user ?? '',
        ssl: flags.ssl,
        ...(secret !== undefined ? { password: secret } : {}),
      };
    case 'azureBlob': {
      unused(['accountUrl', 'container', 'auth']);
      if (!flags.accountUrl || !flags.container || !flags.auth)
        throw new OpenIrError(
          'INVALID_INPUT',
          '--account-url <url>, --container <name> and --auth key|sas|connection-string are required for --type azureBlob.',
          { fix: 'See `openir credential set --help`.' },
        );
      const auth = BLOB_AUTH[flags.auth];
      if (!auth)
        throw new OpenIrError(
          'INVALID_INPUT',
          `--auth must be key, sas or connection-string, not "${flags.auth}".`,
        );
      return {
        name,
        type: 'azureBlob',
        accountUrl: flags.accountUrl,
        container: flags.container,
        auth,
        ...(secret !== undefined ? { secret } : {}),
      };
    }
    default:
      throw new OpenIrError(
        'INVALID_INPUT',
        `--type must be localFolder, http, postgresql, azureBlob or mysql, not "${flags.type}".`,
      );
  }
}

const AUTH_WORDS = { key: 'account key', sas: 'SAS token', connectionString: 'connection string' } as const;

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function formatCredential(c: CredentialView): string {
  switch (c.type) {
    case 'localFolder':
      return `${c.name}  localFolder  root ${c.root}`;
    case 'http':
      return `${c.name}  http  ${c.baseUrl}${c.headerNames.length ? `  headers: ${c.headerNames.join(', ')}` : ''}  token ${c.hasBearerToken ? 'saved' : 'not set'}`;
    case 'postgresql':
      return `${c.name}  postgresql  ${c.user}@${c.host}:${c.port}/${c.database}${c.ssl ? ' (TLS)' : ' (no TLS)'}  password ${c.hasPassword ? 'saved' : 'not set'}`;
    case 'mysql':
      return `${c.name}  mysql  ${c.user}@${c.host}:${c.port}/${c.database}${c.ssl ? ' (TLS)' : ' (no TLS)'}  password ${c.hasPassword ? 'saved' : 'not set'}`;
    case 'azureBlob':
      return `${c.name}  azureBlob  ${c.accountUrl.replace(/\/+$/, '')}/${c.container}  ${AUTH_WORDS[c.auth]} ${c.hasSecret ? 'saved' : 'not set'}`;
  }
}
