import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand, type CommandResult } from './command';
import { freePort } from './node';

/**
 * A real MariaDB server (Debian's `mariadb-server`) on a private datadir under
 * a temp dir and a free loopback port, for tests. `--no-defaults` first, so no
 * /etc/mysql config applies; `--user=root` so it runs as whoever runs the
 * tests; ready when `mariadb-admin ping` answers. Set-up SQL goes as root over
 * the unix socket; a node connects over TCP with a password, as in production.
 */

const READY_TIMEOUT_MS = 30_000;

/** `mariadbd` and `mariadb-install-db`, or the reason to print when they are absent. */
export function findMariadb(): { found: true } | { found: false; reason: string } {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    if (fs.existsSync(path.join(dir, 'mariadbd'))) return { found: true };
  }
  return {
    found: false,
    reason: 'no mariadbd: install MariaDB (apt-get install -y mariadb-server) to run these',
  };
}

function which(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return name;
}

export type { CommandResult };

function run(command: string, args: readonly string[], input = ''): Promise<CommandResult> {
  return runCommand(which(command), args, { input, label: `${command} ${args.join(' ')}` });
}

export interface RunningMariadb {
  host: string;
  port: number;
  socket: string;
  /** mariadbd's process (a bench reads its CPU time). */
  pid: number;
  /** Runs SQL (from stdin) as root over the unix socket; answers `mariadb --batch` output (tab-separated, a header row). */
  sql(text: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

const started = new Set<RunningMariadb>();

export async function startMariadb(): Promise<RunningMariadb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-mariadb-'));
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'sock');
  const install = await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${dataDir}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  if (install.code !== 0) throw new Error(`mariadb-install-db failed (${install.code}): ${install.stderr}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    which('mariadbd'),
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${path.join(dir, 'pid')}`,
      `--log-error=${path.join(dir, 'err.log')}`,
      '--user=root',
      '--skip-name-resolve',
      // Small and quick for tests: no large buffer pool, no fsync per commit.
      '--innodb-buffer-pool-size=64M',
      '--innodb-flush-log-at-trx-commit=0',
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ping = await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping']);
    if (ping.code === 0) break;
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = fs.existsSync(path.join(dir, 'err.log'))
        ? fs.readFileSync(path.join(dir, 'err.log'), 'utf8')
        : '';
      throw new Error(`mariadbd did not start: ${log.slice(-2000)}`);
    }
    await sleep(100);
  }
  const server: RunningMariadb = {
    host: '127.0.0.1',
    port,
    socket,
    pid: child.pid ?? NaN,
    async sql(text, database) {
      const result = await run(
        'mariadb',
        [
          '--no-defaults',
          `--socket=${socket}`,
          '-uroot',
          '--batch',
          '--quick',
          ...(database ? [database] : []),
        ],
        text,
      );
      if (result.code !== 0) throw new Error(`mariadb failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    },
    async stop() {
      started.delete(server);
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  started.add(server);
  return server;
}

export async function stopAllMariadb(): Promise<void> {
  for (const server of [...started]) await server.stop();
}

export function mysqlCredentialArgs(
  name: string,
  server: Pick<RunningMariadb, 'host' | 'port'>,
  { database = 'shop', user = 'reader', json = true } = {},
): string[] {
  return [
    'credential',
    'set',
    name,
    '--type',
    'mysql',
    '--host',
    server.host,
    '--port',
    String(server.port),
    '--database',
    database,
    '--user',
    user,
    '--no-ssl',
    '--secret-stdin',
    ...(json ? ['--json'] : []),
  ];
}

/*
 * The typed table: every type the MySQL source converts (NULLs, DECIMAL,
 * BIGINT past 2^53, DATETIME(6), DATE, TIMESTAMP, text with quotes, commas and
 * an empty string, binary). Used by the tests (mariadbRows.ts compares a job's
 * output with `mariadb --batch`) and by bench/stores.ts.
 */

export const TYPED_COLUMNS = ['id', 'amount', 'big', 'created', 'day', 'ts', 'label', 'note', 'bin'];

/** The same rows as `mariadb --batch` shows them, with each column written as the source writes it. */
const REFERENCE_QUERY = `SET time_zone = '+00:00';
SELECT id, amount, big, REPLACE(created, ' ', 'T') AS created, day,
  CONCAT(REPLACE(ts, ' ', 'T'), 'Z') AS ts, label, note, TO_BASE64(bin) AS bin
FROM t ORDER BY id`;

/** Creates `<database>.t` with `rows` rows and grants `user` SELECT on the database. */
export async function createTypedTable(
  db: RunningMariadb,
  rows: number,
  { database = 'shop', user = 'reader', password }: { database?: string; user?: string; password: string },
): Promise<void> {
  await db.sql(
    `CREATE DATABASE ${database};
     CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';
     GRANT SELECT ON ${database}.* TO '${user}'@'127.0.0.1';`,
  );
  await db.sql(
    `CREATE TABLE t (
       id INT PRIMARY KEY,
       amount DECIMAL(14,4),
       big BIGINT,
       created DATETIME(6),
       day DATE,
       ts TIMESTAMP NULL,
       label VARCHAR(40),
       note VARCHAR(80),
       bin VARBINARY(16)
     );
     SET time_zone = '+00:00';
     INSERT INTO t SELECT
       seq,
       IF(seq % 11 = 0, NULL, seq * 1234.5678 - 50000),
       -- Past 2^53 (exact only as text), within BIGINT for any row count (it repeats after 100,000 rows).
       (1 + (seq - 1) % 100000) * 92233720368547 + 1,
       TIMESTAMP('2024-02-29 23:59:58.123456') + INTERVAL seq SECOND,
       DATE('1999-12-31') + INTERVAL seq DAY,
       IF(seq % 13 = 0, NULL, TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq MINUTE),
       IF(seq % 10 = 0, NULL, IF(seq % 10 = 5, '', CONCAT('ligne-é-', seq))),
       CONCAT('say "hi", row ', seq),
       IF(seq % 7 = 0, NULL, UNHEX(MD5(seq)))
     FROM seq_1_to_${rows};`,
    database,
  );
}

/** `mariadb --batch` of the typed table: a header row, then the rows as text ("NULL" for NULL). */
export async function typedReference(db: RunningMariadb, database = 'shop'): Promise<string[][]> {
  return batchRows(await db.sql(REFERENCE_QUERY, database));
}

/** `mariadb --batch` output → rows of text ("NULL" for NULL); \\t \\n \\\\ undone. */
export function batchRows(text: string): string[][] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) =>
    line
      .split('\t')
      .map((field) =>
        field.replace(/\\([tn\\0])/g, (_, c: string) => ({ t: '\t', n: '\n', '\\': '\\', 0: '\0' })[c] ?? c),
      ),
  );
}
