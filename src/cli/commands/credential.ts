import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CredentialInputSchema, type CredentialInput, type CredentialView } from '../../shared/credentials';
import type { CredentialTestReport } from '../../shared/credentialTest';
import { OpenIrError } from '../../shared/errors';
import { invalidInput } from '../../shared/invoke';
import { printResult, type CommandContext, type Output } from '../context';

interface SetFlags {
  type: string;
  root?: string;
  baseUrl?: string;
  header?: string[];
  headersFile?: string;
  host?: string;
  port?: string;
  database?: string;
  user?: string;
  ssl: boolean;
  accountUrl?: string;
  container?: string;
  auth?: string;
  secretStdin?: boolean;
  privateKeyFile?: string;
  passphraseStdin?: boolean;
  hostKey?: string;
  fetchHostKey?: boolean;
  yes?: boolean;
  allowFactory?: string[];
}

/** What an sftp credential takes from outside the flags: its secrets, and the host key fetched and confirmed. */
interface SftpExtras {
  hostKey?: string;
  privateKey?: string;
  passphrase?: string;
  /** The saved credential's sign-in kind, for an update that gives no new secret. */
  savedAuth?: 'password' | 'privateKey';
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
    .command('test <name>')
    .description(
      'test connection of a saved credential: each check with its timing; exits 1 on the first failure',
    )
    .action(
      run(async (o, name: string) => {
        const report = await (await ensureHost()).call('testCredential', { name });
        printResult(o, report, () => formatCredentialTest(report));
        if (!report.ok) {
          const failure = report.failure;
          o.err(
            `openir: ${failure?.message ?? 'The test failed.'}${failure?.fix ? ` ${failure.fix}` : ''} [${failure?.code ?? 'INTERNAL'}]`,
          );
          ctx.fail();
        }
      }),
    );

  credential
    .command('set')
    .description('create or replace a credential (an omitted secret keeps the saved one)')
    .argument('<name>', 'name jobs use, e.g. files or sales-db')
    .requiredOption('--type <type>', 'localFolder | http | postgresql | azureBlob | mysql | sftp')
    .option(
      '--root <dir>',
      'localFolder: the folder paths are relative to; sftp: the folder on the server (default /)',
    )
    .option('--base-url <url>', 'http: the endpoint, e.g. https://data.example/api/')
    .option(
      '--headers-file <file>',
      'http: headers to send, one "Name: value" per line (kept in the vault; values never on the command line)',
    )
    .option(
      '--header <name:value>',
      'refused: header values on the command line are visible to other users',
      collect,
      [],
    )
    .option('--host <host>', 'postgresql, mysql, sftp: server host')
    .option(
      '--port <port>',
      'postgresql, mysql, sftp: server port (default 5432 for postgresql, 3306 for mysql, 22 for sftp)',
    )
    .option('--database <name>', 'postgresql, mysql: database')
    .option('--user <user>', 'postgresql, mysql, sftp: user')
    .option('--no-ssl', 'postgresql, mysql: connect without TLS')
    .option(
      '--account-url <url>',
      'azureBlob: https://<account>.blob.core.windows.net (or an emulator URL, e.g. http://127.0.0.1:10000/devstoreaccount1)',
    )
    .option('--container <name>', 'azureBlob: the container blobs are read from and written to')
    .option('--auth <kind>', 'azureBlob: key | sas | connection-string (the secret, from --secret-stdin)')
    .option(
      '--secret-stdin',
      'read the secret from standard input (http: bearer token; postgresql, mysql, sftp: password; azureBlob: account key, SAS token or connection string)',
    )
    .option(
      '--private-key-file <file>',
      'sftp: sign in with this private key (OpenSSH or PEM); its content is kept in the vault, not the path',
    )
    .option('--passphrase-stdin', "sftp: read the private key's passphrase from standard input")
    .option('--host-key <SHA256:…>', "sftp: the server's host key fingerprint, as `ssh-keygen -lf` prints it")
    .option(
      '--fetch-host-key',
      "sftp: connect, print the server's host key fingerprint and save it once confirmed",
    )
    .option('--yes', 'with --fetch-host-key: save the fingerprint without asking (for scripts)')
    .option(
      '--allow-factory <factory>',
      "let jobs of this linked data factory use it (repeatable); by default only the factory owning this node's IR may",
      collect,
      [],
    )
    .action(
      run(async (o, name: string, flags: SetFlags) => {
        if ((flags.header ?? []).length > 0) {
          throw new OpenIrError(
            'INVALID_INPUT',
            '--header puts header values on the command line, where other users of this machine can read them (ps, shell history).',
            {
              fix: 'Write the headers, one "Name: value" per line, to a file only you can read and give --headers-file <file>.',
            },
          );
        }
        if (flags.headersFile) flags.header = await readHeadersFile(flags.headersFile);
        const extras = flags.type === 'sftp' ? await sftpExtras(ctx, o, name, flags) : {};
        const secret = flags.secretStdin ? await readSecret() : undefined;
        const input = inputFrom(name, flags, secret, extras);
        const allowFactories = flags.allowFactory ?? [];
        const parsed = CredentialInputSchema.safeParse(
          allowFactories.length > 0 ? { ...input, allowFactories } : input,
        );
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

/** `--headers-file`: "Name: value" lines (blank lines and `#` comments skipped), checked as --header was. */
async function readHeadersFile(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch((error: Error) => {
    throw new OpenIrError('UNREADABLE', `Cannot read the headers file ${file}: ${error.message}.`, {
      fix: 'Give the path of a file you may read, with one "Name: value" per line.',
    });
  });
  return text
    .split(/\r?\n/u)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * An sftp credential's host key (given, or fetched from the server and
 * confirmed), its private key read from the file, and the passphrase from
 * standard input. The key's content is what is saved: the host runs as its
 * own user, which may not read the file, and the vault syncs it to the peers.
 */
async function sftpExtras(
  ctx: CommandContext,
  o: Output,
  name: string,
  flags: SetFlags,
): Promise<SftpExtras> {
  const sftpOnly: [keyof SetFlags, string][] = [];
  if (flags.secretStdin && flags.privateKeyFile)
    sftpOnly.push([
      'secretStdin',
      'Give either --secret-stdin (a password) or --private-key-file, not both.',
    ]);
  if (flags.passphraseStdin && !flags.privateKeyFile)
    sftpOnly.push(['passphraseStdin', '--passphrase-stdin goes with --private-key-file.']);
  if (flags.hostKey && flags.fetchHostKey)
    sftpOnly.push(['hostKey', 'Give either --host-key or --fetch-host-key, not both.']);
  if (!flags.hostKey && !flags.fetchHostKey)
    sftpOnly.push([
      'hostKey',
      "--host-key SHA256:… or --fetch-host-key is required for --type sftp: the server's host key is pinned.",
    ]);
  if (flags.yes && !flags.fetchHostKey) sftpOnly.push(['yes', '--yes goes with --fetch-host-key.']);
  const first = sftpOnly[0];
  if (first) throw new OpenIrError('INVALID_INPUT', first[1], { fix: 'See `openir credential set --help`.' });

  let savedAuth: SftpExtras['savedAuth'];
  if (!flags.secretStdin && !flags.privateKeyFile) {
    const saved = (await (await ctx.ensureHost()).call('listCredentials', {})).credentials.find(
      (c) => c.name === name,
    );
    if (saved?.type !== 'sftp') {
      throw new OpenIrError(
        'INVALID_INPUT',
        'A new sftp credential needs a password (--secret-stdin) or a private key (--private-key-file).',
        { fix: 'See `openir credential set --help`.' },
      );
    }
    savedAuth = saved.auth;
  }

  let privateKey: string | undefined;
  let passphrase: string | undefined;
  if (flags.privateKeyFile) {
    privateKey = await fs.readFile(flags.privateKeyFile, 'utf8').catch((error: Error) => {
      throw new OpenIrError(
        'UNREADABLE',
        `Cannot read the private key file ${flags.privateKeyFile}: ${error.message}.`,
        {
          fix: 'Give the path of a private key file you may read.',
        },
      );
    });
    if (flags.passphraseStdin) passphrase = await ctx.readSecret();
    // Checked here, where the user can act on it, rather than at the first job.
    const { utils } = await (await import('../../core/jobs/sftpClient.js')).loadSsh2();
    const key = utils.parseKey(privateKey, passphrase);
    if (key instanceof Error || (Array.isArray(key) && key.length === 0)) {
      throw new OpenIrError(
        'INVALID_INPUT',
        `The private key in ${flags.privateKeyFile} cannot be used: ${key instanceof Error ? key.message : 'no key found'}.`,
        {
          fix: /passphrase|encrypted/i.test(key instanceof Error ? key.message : '')
            ? 'Give its passphrase with --passphrase-stdin.'
            : 'Give an OpenSSH or PEM private key file (e.g. from ssh-keygen).',
        },
      );
    }
  }

  let hostKey = flags.hostKey;
  if (flags.fetchHostKey) {
    if (!flags.host) throw new OpenIrError('INVALID_INPUT', '--host is required for --type sftp.');
    const port = Number(flags.port ?? 22);
    const { fetchSftpHostKey } = await import('../../core/jobs/sftpClient.js');
    const seen = await fetchSftpHostKey(flags.host, port);
    o.err(`The SFTP server ${flags.host}:${port} shows the host key ${seen}.`);
    if (!flags.yes) {
      if (!ctx.io.isTty?.() || !ctx.io.ask) {
        throw new OpenIrError(
          'INVALID_INPUT',
          `Not saved: the host key ${seen} needs a confirmation, and there is no terminal to ask on.`,
          {
            fix: `Check it with the server's administrator (ssh-keygen -lf on the server), then run again with --host-key ${seen}, or add --yes.`,
          },
        );
      }
      const answer = await ctx.io.ask(
        'Is this the server you mean (compare with `ssh-keygen -lf` on it)? [y/N] ',
      );
      if (!/^y(es)?$/i.test(answer.trim())) {
        throw new OpenIrError('INVALID_INPUT', 'Not saved: the host key was not confirmed.', {
          fix: `Check the fingerprint with the server's administrator, then run again.`,
        });
      }
    }
    hostKey = seen;
  }
  return {
    ...(hostKey ? { hostKey } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(savedAuth ? { savedAuth } : {}),
  };
}

function inputFrom(
  name: string,
  flags: SetFlags,
  secret: string | undefined,
  extras: SftpExtras = {},
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
          throw new OpenIrError(
            'INVALID_INPUT',
            `A header must be "Name: value", not "${header.split(':')[0]}…".`,
            {
              fix: 'Write one "Name: value" per line in the --headers-file.',
            },
          );
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
    case 'mysql':
      // The same fields for both database servers; only the default port differs.
      unused(['host', 'database', 'user']);
      return {
        name,
        type: flags.type,
        host: flags.host ?? '',
        port: Number(flags.port ?? (flags.type === 'mysql' ? 3306 : 5432)),
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
    case 'sftp':
      unused(['host', 'user', 'root']);
      if (!flags.host || !flags.user)
        throw new OpenIrError('INVALID_INPUT', '--host and --user are required for --type sftp.', {
          fix: 'See `openir credential set --help`.',
        });
      return {
        name,
        type: 'sftp',
        host: flags.host,
        port: Number(flags.port ?? 22),
        user: flags.user,
        root: flags.root ?? '/',
        auth:
          extras.privateKey !== undefined
            ? 'privateKey'
            : secret !== undefined
              ? 'password'
              : extras.savedAuth,
        hostKey: extras.hostKey ?? '',
        ...(secret !== undefined ? { password: secret } : {}),
        ...(extras.privateKey !== undefined ? { privateKey: extras.privateKey } : {}),
        ...(extras.passphrase !== undefined ? { passphrase: extras.passphrase } : {}),
      };
    default:
      throw new OpenIrError(
        'INVALID_INPUT',
        `--type must be localFolder, http, postgresql, azureBlob, mysql or sftp, not "${flags.type}".`,
      );
  }
}

const AUTH_WORDS = { key: 'account key', sas: 'SAS token', connectionString: 'connection string' } as const;

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function formatCredential(c: CredentialView): string {
  const scope = c.allowFactories.length > 0 ? `  shared with: ${c.allowFactories.join(', ')}` : '';
  return `${formatCredentialOfType(c)}${scope}`;
}

function formatCredentialOfType(c: CredentialView): string {
  switch (c.type) {
    case 'localFolder':
      return `${c.name}  localFolder  root ${c.root}`;
    case 'http':
      return `${c.name}  http  ${c.baseUrl}${c.headerNames.length ? `  headers: ${c.headerNames.join(', ')}` : ''}  token ${c.hasBearerToken ? 'saved' : 'not set'}`;
    case 'postgresql':
      return `${c.name}  postgresql  ${c.user}@${c.host}:${c.port}/${c.database}${c.ssl ? ' (TLS)' : ' (no TLS)'}  password ${c.hasPassword ? 'saved' : 'not set'}`;
    case 'mysql':
      return `${c.name}  mysql  ${c.user}@${c.host}:${c.port}/${c.database}${c.ssl ? ' (TLS)' : ' (no TLS)'}  password ${c.hasPassword ? 'saved' : 'not set'}`;
    case 'sftp':
      return `${c.name}  sftp  ${c.user}@${c.host}:${c.port}${c.root}  host key ${c.hostKey}  ${c.auth === 'password' ? 'password' : 'private key'} ${c.hasSecret ? 'saved' : 'not set'}`;
    case 'azureBlob':
      return `${c.name}  azureBlob  ${c.accountUrl.replace(/\/+$/, '')}/${c.container}  ${AUTH_WORDS[c.auth]} ${c.hasSecret ? 'saved' : 'not set'}`;
  }
}

/** The steps as a small troubleshoot report: one line each, then the verdict and its fix. */
export function formatCredentialTest(report: CredentialTestReport): string {
  const lines = [`Testing ${report.type} credential "${report.name}"${report.unsaved ? ' (unsaved)' : ''}`];
  for (const step of report.steps) {
    const mark = step.result === 'passed' ? 'ok  ' : step.result === 'failed' ? 'FAIL' : 'skip';
    const said = step.error
      ? `${step.error.code}${step.error.storeCode ? ` (${step.error.storeCode})` : ''}`
      : (step.detail ?? '');
    lines.push(`  ${mark} ${step.label.padEnd(56)} ${`${step.ms} ms`.padStart(8)}  ${said}`);
  }
  if (report.ok) lines.push(`Connection OK (${report.ms} ms).`);
  else {
    lines.push(`Failed: ${report.failure?.message ?? ''}`);
    if (report.failure?.fix) lines.push(`Fix: ${report.failure.fix}`);
  }
  return lines.join('\n');
}
