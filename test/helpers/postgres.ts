import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand, type CommandResult } from './command';
import { freePort } from './node';

/**
 * A real PostgreSQL server (Debian's package) on a temp dir and a free
 * loopback port, for tests and benches. PostgreSQL refuses to run as root, so
 * as root the data dir is given to the `postgres` user and initdb / pg_ctl run
 * through `runuser`. Local (unix socket) connections are trusted, for setting
 * up; TCP on 127.0.0.1 needs a SCRAM password, as a node would meet it.
 */

const COMMAND_TIMEOUT_MS = 120_000;

/** The newest PostgreSQL bin dir with initdb, or null with the reason to print. */
export function findPostgresBin(): { bin: string } | { bin: null; reason: string } {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+$/.test(v));
  } catch {
    // not installed
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = path.join(root, version, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return { bin };
  }
  return {
    bin: null,
    reason: `no ${root}/*/bin/initdb: install PostgreSQL (apt-get install -y postgresql) to run these`,
  };
}

export type { CommandResult };

export interface RunningPostgres {
  host: string;
  port: number;
  socketDir: string;
  bin: string;
  /** Runs SQL (from stdin, so secrets never show in argv) as the superuser over the unix socket. */
  sql(text: string, database?: string): Promise<string>;
  /**
   * `psql \copy (<query>) TO STDOUT WITH (FORMAT csv, HEADER true)` over TCP as `user`,
   * hashed as it streams: the reference a job's staged CSV must equal byte for byte.
   */
  copyCsvDigest(
    query: string,
    login: { database: string; user: string; password: string },
  ): Promise<{ sha256: string; bytes: number; ms: number }>;
  stop(): Promise<void>;
}

const started = new Set<RunningPostgres>();

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; asPostgres?: boolean } = {},
): Promise<CommandResult> {
  const [file, argv] =
    options.asPostgres && asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return runCommand(file, argv, { ...options, label: `${command} ${args.join(' ')}` });
}

async function mustRun(...params: Parameters<typeof run>): Promise<string> {
  const result = await run(...params);
  if (result.code !== 0) {
    throw new Error(`${params[0]} ${params[1].join(' ')} failed (${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}

export async function startPostgres(): Promise<RunningPostgres> {
  const found = findPostgresBin();
  if (found.bin === null) throw new Error(found.reason);
  const { bin } = found;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-pg-'));
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  fs.mkdirSync(socketDir);
  if (asRoot) await mustRun('chown', ['-R', 'postgres:postgres', dir]);
  fs.chmodSync(dir, 0o700);
  await mustRun(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--auth=trust'],
    { cwd: dir, asPostgres: true },
  );
  fs.writeFileSync(
    path.join(dataDir, 'pg_hba.conf'),
    ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
  );
  const port = await freePort();
  const options = [
    '-c listen_addresses=127.0.0.1',
    `-p ${port}`,
    `-k ${socketDir}`,
    // A throwaway server: durability only slows the test's bulk load.
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    // Two scans of one table must return rows in the same order.
    '-c synchronize_seqscans=off',
    '-c max_connections=30',
    '-c password_encryption=scram-sha-256',
  ].join(' ');
  await mustRun(
    path.join(bin, 'pg_ctl'),
    ['-D', dataDir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start'],
    { cwd: dir, asPostgres: true },
  );

  const psql = path.join(bin, 'psql');
  const pg: RunningPostgres = {
    host: '127.0.0.1',
    port,
    socketDir,
    bin,
    sql: (text, database = 'postgres') =>
      mustRun(
        psql,
        [
          '-X',
          '-q',
          '-A',
          '-t',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          socketDir,
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          database,
          '-f',
          '-',
        ],
        { input: text, cwd: dir },
      ),
    copyCsvDigest: (query, login) =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        const child = spawn(
          psql,
          [
            '-X',
            '-v',
            'ON_ERROR_STOP=1',
            '-h',
            '127.0.0.1',
            '-p',
            String(port),
            '-U',
            login.user,
            '-d',
            login.database,
            '-c',
            `\\copy (${query}) TO STDOUT WITH (FORMAT csv, HEADER true)`,
          ],
          {
            cwd: dir,
            // The node's pg driver talks UTF-8 and the server default time zone; psql must too.
            env: { ...withoutPgEnv(), PGPASSWORD: login.password, PGCLIENTENCODING: 'UTF8' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        const hash = createHash('sha256');
        let bytes = 0;
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
        });
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
        child.once('error', reject);
        child.once('close', (code) => {
          clearTimeout(timer);
          if (code !== 0) reject(new Error(`psql \\copy failed (${code}): ${stderr}`));
          else resolve({ sha256: hash.digest('hex'), bytes, ms: performance.now() - t0 });
        });
      }),
    async stop() {
      started.delete(pg);
      await run(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], {
        cwd: dir,
        asPostgres: true,
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  started.add(pg);
  return pg;
}

/** For afterAll: stops every server this helper started. */
export async function stopAllPostgres(): Promise<void> {
  for (const pg of [...started]) await pg.stop();
}

/** The environment less libpq's PG* variables, which would change the session (time zone, options). */
function withoutPgEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
}

/** A SQL string literal (standard_conforming_strings is on). */
export const sqlLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/**
 * `openir credential set <name> --type postgresql …` for this server, with the password to
 * come from standard input (`--secret-stdin`); `json` adds `--json`.
 */
export function postgresCredentialArgs(
  name: string,
  pg: Pick<RunningPostgres, 'host' | 'port'>,
  { database = 'shop', user = 'reader', json = true } = {},
): string[] {
  return [
    'credential',
    'set',
    name,
    '--type',
    'postgresql',
    '--host',
    pg.host,
    '--port',
    String(pg.port),
    '--database',
    database,
    '--user',
    user,
    '--no-ssl',
    '--secret-stdin',
    ...(json ? ['--json'] : []),
  ];
}
