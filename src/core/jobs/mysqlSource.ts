import { Readable } from 'node:stream';
import type { ConnectionOptions, FieldPacket } from 'mysql2';
import { OpenIrError } from '../../shared/errors';
import type { JobFormat } from '../../shared/jobs';
import type { ResolvedCredential } from './credentialStore';
import { CsvChunkWriter, FieldKind, fieldKind } from './mysqlCsv';

export type MysqlCredential = Extract<ResolvedCredential, { type: 'mysql' }>;

const CONNECT_TIMEOUT_MS = 15_000;
const KILL_TIMEOUT_MS = 2_000;
/** Rows are gathered into chunks of about this size; the connection is paused while the consumer is behind. */
const CHUNK_BYTES = 64 * 1024;
const HIGH_WATER_MARK = 256 * 1024;
const TABLE_PREFIX = 'table:';

/** MySQL column types whose text is a date or a time stamp (DATE, NEWDATE, DATETIME, DATETIME2, TIMESTAMP, TIMESTAMP2). */
const DATE_TYPES = new Set([10, 14]);
const DATETIME_TYPES = new Set([12, 18]);
const TIMESTAMP_TYPES = new Set([7, 17]);

/** What a query's text holds once literals and comments are set aside: its statements and its bare words. */
interface Scan {
  /** Each statement's text, trailing `;` dropped; empty ones (`;;`, a comment) left out. */
  statements: string[];
  /** Upper-cased bare words of the first statement, outside strings, quoted names and comments. */
  words: string[];
}

/**
 * Splits SQL text the way the MySQL client splits statements: a `;` outside
 * quotes ('…', "…", `…`, with backslash escapes and doubled quotes) and outside
 * comments (`-- `, `#`, `/* … *\/`) ends a statement. The server's own parser
 * is the final word (the connection is opened without multi-statements, so it
 * refuses a second one); this scan lets the node refuse it first, with its code.
 */
export function scanSql(text: string): Scan {
  const statements: string[] = [];
  const words: string[] = [];
  let start = 0;
  let i = 0;
  const end = (at: number) => {
    const statement = text.slice(start, at).trim();
    if (statement !== '' && !/^(?:\s|--[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)*$/u.test(statement))
      statements.push(statement);
    start = at + 1;
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'" || c === '"' || c === '`') {
      i += 1;
      while (i < text.length) {
        if (text[i] === '\\' && c !== '`') i += 2;
        else if (text[i] === c && text[i + 1] === c) i += 2;
        else if (text[i] === c) break;
        else i += 1;
      }
      i += 1;
    } else if (c === '#' || (c === '-' && text[i + 1] === '-' && /[\s]/u.test(text[i + 2] ?? ' '))) {
      const newline = text.indexOf('\n', i);
      i = newline === -1 ? text.length : newline + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? text.length : close + 2;
    } else if (c === ';') {
      end(i);
      i += 1;
    } else if (/[A-Za-z_]/u.test(c)) {
      const word = /[A-Za-z0-9_$]+/uy;
      word.lastIndex = i;
      const match = word.exec(text)?.[0] ?? c;
      if (statements.length === 0) words.push(match.toUpperCase());
      i += match.length;
    } else {
      i += 1;
    }
  }
  end(text.length);
  return { statements, words };
}

/** `` `name` `` or `` `schema`.`name` ``: the parts of `table:<name>`, each quoted (with doubled backticks). */
function quoteTableName(name: string): string {
  const part = /\s*(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))\s*(\.|$)/y;
  const parts: string[] = [];
  for (let at = 0; ;) {
    part.lastIndex = at;
    const match = part.exec(name);
    if (!match || parts.length === 2) {
      throw new OpenIrError('INVALID_INPUT', `"${name}" is not a table name.`, {
        fix: 'Write table:<name> or table:<database>.<name>; put names with other characters in backticks.',
      });
    }
    parts.push((match[1] ?? match[2] ?? '').replace(/``/g, '`'));
    at = part.lastIndex;
    if (match[3] === '') break;
  }
  return parts.map((p) => `\`${p.replace(/`/g, '``')}\``).join('.');
}

/**
 * The one SELECT a job's source path stands for: `table:<name>` or a query.
 * A second statement is refused (DATA_SOURCE_MULTIPLE_STATEMENTS), and so is
 * anything but a read: a statement other than SELECT/WITH/VALUES/TABLE would
 * commit the read-only transaction implicitly (DDL) or write outside it
 * (`INTO OUTFILE`).
 */
export function mysqlSelectFor(location: string): string {
  const text = location.trim();
  if (text.startsWith(TABLE_PREFIX))
    return `SELECT * FROM ${quoteTableName(text.slice(TABLE_PREFIX.length))}`;
  const { statements, words } = scanSql(text);
  const query = statements[0];
  if (query === undefined) {
    throw new OpenIrError('INVALID_INPUT', 'The MySQL source has no query.', {
      fix: 'Give a query (--source <credential>:SELECT …) or a table (--source <credential>:table:<name>).',
    });
  }
  if (statements.length > 1) {
    throw new OpenIrError(
      'DATA_SOURCE_MULTIPLE_STATEMENTS',
      `The MySQL source holds ${statements.length} statements; a source runs exactly one SELECT.`,
      { fix: 'Give a single SELECT (a trailing ";" is fine); run other statements elsewhere.' },
    );
  }
  const first = words[0];
  if (
    !first ||
    !['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(first) ||
    words.includes('OUTFILE') ||
    words.includes('DUMPFILE')
  ) {
    throw new OpenIrError(
      'INVALID_INPUT',
      'A MySQL source runs a SELECT only (it reads; it writes nothing).',
      {
        fix: 'Give a SELECT (or WITH … SELECT), or table:<name>; no INTO OUTFILE/DUMPFILE.',
      },
    );
  }
  return query;
}

/** One value as NDJSON writes it: NULL as null, dates as ISO text, DECIMAL/BIGINT as text, binary as base64. */
function valueOf(value: unknown, field: FieldPacket | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'string' && field?.columnType !== undefined) {
    if (DATETIME_TYPES.has(field.columnType)) return value.replace(' ', 'T');
    // The session runs in UTC (time_zone '+00:00'), so a TIMESTAMP is an instant in UTC.
    if (TIMESTAMP_TYPES.has(field.columnType)) return `${value.replace(' ', 'T')}Z`;
    if (DATE_TYPES.has(field.columnType)) return value;
  }
  return value;
}

/** RFC 4180: a field with a comma, a quote or a line break is quoted, quotes doubled; NULL is an empty, unquoted field, '' is `""`. */
function csvField(value: unknown): string {
  if (value === null) return '';
  const text = typeof value === 'string' ? value : String(value);
  if (text === '' || /[",\r\n]/u.test(text)) return `"${text.replace(/"/g, '""')}"`;
  return text;
}

function ndjsonLine(row: unknown[], fields: FieldPacket[]): string {
  const object: Record<string, unknown> = {};
  fields.forEach((field, i) => {
    object[field.name] = valueOf(row[i], field);
  });
  return `${JSON.stringify(object)}\n`;
}

/**
 * Runs the job's SELECT on a new connection, in a read-only transaction, and
 * streams its rows as CSV (with a header) or NDJSON. Rows are read one by one
 * from the socket, which is paused while the consumer is behind, so memory
 * stays flat whatever the row count. When the stream is destroyed before the
 * end (cancel, sink failure), `KILL QUERY <thread id>` goes over a second
 * connection, so the server stops even in the middle of a slow query.
 */
export async function openMysqlSource(
  credential: MysqlCredential,
  location: string,
  format: JobFormat,
  signal: AbortSignal,
): Promise<{ stream: Readable; release?: (chunk: Buffer) => void }> {
  const select = mysqlSelectFor(location);
  signal.throwIfAborted();
  // Loaded on first use: an idle node does not carry the driver.
  const mysql = await import('mysql2');
  const options: ConnectionOptions = {
    host: credential.host,
    port: credential.port,
    user: credential.user,
    password: credential.password ?? '',
    database: credential.database,
    ...(credential.ssl ? { ssl: { rejectUnauthorized: true } } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    rowsAsArray: true,
    charset: 'UTF8MB4_GENERAL_CI',
  };
  const connection = mysql.createConnection(options);
  let failure: OpenIrError | null = null;
  let out: Readable | null = null;
  // Without a listener a dropped connection would crash the host.
  connection.on('error', (error: Error) => {
    failure ??= describeMysqlError(credential, error);
    out?.destroy(failure);
  });
  const run = (sql: string) =>
    new Promise<void>((resolve, reject) => {
      connection.query(sql, (error) => (error ? reject(error) : resolve()));
    });
  const abortConnect = () => connection.destroy();
  signal.addEventListener('abort', abortConnect, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.connect((error) => (error ? reject(error) : resolve()));
    });
    await run("SET SESSION time_zone = '+00:00'");
    await run('START TRANSACTION READ ONLY');
  } catch (error) {
    connection.destroy();
    signal.throwIfAborted();
    throw describeMysqlError(credential, error);
  } finally {
    signal.removeEventListener('abort', abortConnect);
  }

  const threadId = connection.threadId;
  let fields: FieldPacket[] = [];
  let pending = '';
  let done = false;
  const stream = new Readable({
    highWaterMark: HIGH_WATER_MARK,
    read() {
      connection.resume();
    },
    destroy(error, callback) {
      if (!done) {
        done = true;
        // Stop the query on the server, then drop this connection (its socket may be paused).
        void killQuery(mysql, options, threadId).finally(() => connection.destroy());
      }
      callback(error);
    },
  });
  out = stream;
  // A query error can arrive before the copy's pipeline listens; an unheard 'error' would crash the host.
  stream.on('error', () => undefined);
  const push = (chunk: Buffer | string) => {
    if (!stream.push(chunk)) connection.pause();
  };
  const flush = () => {
    if (csv) return csv.flush();
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    push(chunk);
  };
  // CSV is written from the protocol's bytes (mysqlCsv.ts); NDJSON from decoded values, for its JSON types.
  const csv = format !== 'ndjson' ? new CsvChunkWriter(CHUNK_BYTES, push) : null;
  let kinds: FieldKind[] = [];
  const query = connection.query({ sql: select, ...(csv ? { typeCast: false } : {}) });
  if (csv)
    rowsFromPackets(query, (packet) => csv.writePacketRow(packet.buffer, packet.offset, packet.end, kinds));
  query.on('fields', (list: FieldPacket[]) => {
    fields = list;
    kinds = list.map(fieldKind);
    csv?.writeText(`${list.map((f) => csvField(f.name)).join(',')}\n`);
  });
  query.on('result', (row: unknown) => {
    // With rowsFromPackets each row is written already (and arrives as null); otherwise here.
    if (csv) return row === null ? undefined : csv.writeRow(row as (Buffer | null)[], kinds);
    pending += ndjsonLine(row as unknown[], fields);
    if (pending.length >= CHUNK_BYTES) flush();
  });
  query.on('error', (error: Error) => {
    if (done) return;
    done = true;
    failure ??= describeMysqlError(credential, error);
    connection.destroy();
    stream.destroy(failure);
  });
  query.on('end', () => {
    if (done) return;
    flush();
    done = true;
    stream.push(null);
    connection.query('COMMIT', () => connection.end(() => undefined));
  });
  return csv ? { stream, release: csv.release } : { stream };
}

/** What mysql2 hands a row parser: the packet's bytes, its payload being [offset, end). */
interface RowPacket {
  buffer: Buffer;
  offset: number;
  end: number;
}

/**
 * Has each row packet of `query` go to `write` as it is, in place of mysql2's
 * row parser (the `_rowParser` it calls `next(packet)` on per row), which
 * would make a Buffer per field and an array per row first. The rows then
 * reach 'result' as null. Should mysql2 stop calling `_rowParser`, its rows
 * come as arrays again and take the slower path, same bytes
 * (test/core/mysqlSource.test.ts checks this path is the one taken).
 */
export function rowsFromPackets(query: object, write: (packet: RowPacket) => void): void {
  const parser = {
    next(packet: RowPacket): null {
      write(packet);
      return null;
    },
  };
  Object.defineProperty(query, '_rowParser', { configurable: true, get: () => parser, set: () => undefined });
}

/** `KILL QUERY` over a second connection: the first one is busy sending rows. */
async function killQuery(
  mysql: typeof import('mysql2'),
  options: ConnectionOptions,
  threadId: number | null,
): Promise<void> {
  if (threadId === null) return;
  const killer = mysql.createConnection({ ...options, connectTimeout: KILL_TIMEOUT_MS });
  killer.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, KILL_TIMEOUT_MS);
    killer.query(`KILL QUERY ${Number(threadId)}`, () => {
      clearTimeout(timer);
      resolve();
    });
  });
  killer.destroy();
}

/** MySQL error numbers that mean the server refused who we are (1045 wrong password, 1044/1698 denied). */
const AUTH_ERRNOS = new Set([1045, 1044, 1698]);
/** MySQL error numbers that mean the query itself is wrong (syntax, no such table/column, denied, read-only). */
const QUERY_ERRNOS = new Set([1064, 1146, 1054, 1142, 1143, 1792, 1049]);

export function describeMysqlError(credential: MysqlCredential, error: unknown): OpenIrError {
  if (error instanceof OpenIrError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const errno = typeof error === 'object' && error !== null ? Reflect.get(error, 'errno') : undefined;
  const code = typeof error === 'object' && error !== null ? Reflect.get(error, 'code') : undefined;
  const where = `${credential.host}:${credential.port}/${credential.database}`;
  const setAgain = `openir credential set ${credential.name} --type mysql --host ${credential.host} --port ${credential.port} --database ${credential.database} --user ${credential.user}${credential.ssl ? '' : ' --no-ssl'} --secret-stdin`;
  if (typeof errno === 'number' && AUTH_ERRNOS.has(errno)) {
    return new OpenIrError(
      'DATA_SOURCE_AUTH_FAILED',
      `MySQL at ${where} refused the credential "${credential.name}" (user "${credential.user}"): ${message}.`,
      {
        fix: `Set the right password with \`${setAgain}\` (the password on standard input), or check the user's grants for this host.`,
        cause: error,
      },
    );
  }
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return new OpenIrError(
      'DATA_SOURCE_FAILED',
      `MySQL at ${where} does not accept TLS, which the credential "${credential.name}" requires.`,
      {
        fix: `Enable TLS on the server, or set the credential with --no-ssl if the network is trusted: \`${setAgain.replace(' --secret-stdin', ' --no-ssl --secret-stdin')}\`.`,
        cause: error,
      },
    );
  }
  if (
    typeof errno === 'number' &&
    (QUERY_ERRNOS.has(errno) || typeof Reflect.get(error as object, 'sqlState') === 'string')
  ) {
    const fix =
      errno === 1049
        ? `Check the database name of the credential "${credential.name}".`
        : errno === 1792
          ? 'A source query runs in a read-only transaction: give a query that only reads.'
          : errno === 1317
            ? 'The query was interrupted on the server (KILL QUERY or a timeout); run the job again.'
            : 'Check the query (or the table name after "table:") and that the user may read it.';
    return new OpenIrError(
      'DATA_SOURCE_FAILED',
      `MySQL at ${where} (credential "${credential.name}") answered: ${message} [${String(code)} ${errno}].`,
      { fix, cause: error },
    );
  }
  return new OpenIrError(
    'DATA_SOURCE_FAILED',
    `Cannot reach MySQL at ${credential.host}:${credential.port} for the credential "${credential.name}": ${message}.`,
    {
      fix: 'Check that the server runs and that this node can reach its host and port (firewall, bind-address).',
      cause: error,
    },
  );
}
