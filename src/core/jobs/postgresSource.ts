import { EventEmitter } from 'node:events';
import net from 'node:net';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Client, type ClientConfig, type Connection, type Submittable } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { OpenIrError } from '../../shared/errors';
import type { JobFormat } from '../../shared/jobs';
import type { ResolvedCredential } from './credentialStore';

export type PostgresCredential = Extract<ResolvedCredential, { type: 'postgresql' }>;

const CONNECT_TIMEOUT_MS = 15_000;
const CANCEL_TIMEOUT_MS = 1_000;
/** Between the COPY stream and the meter; the socket is paused once this much is waiting. */
const HIGH_WATER_MARK = 256 * 1024;
const TABLE_PREFIX = 'table:';

/**
 * The SQL a job's source path stands for: `table:<name>` (a table or view,
 * `schema.name` allowed, unquoted parts folded to lower case as PostgreSQL
 * does) or a query, whose trailing `;` is dropped so it can sit inside COPY.
 * A query must start with SELECT or WITH (after comments and parentheses);
 * that it is one statement only is the server's call (see parseOnServer).
 */
export function selectFor(location: string): string {
  const text = location.trim();
  if (text.startsWith(TABLE_PREFIX))
    return `SELECT * FROM ${quoteQualifiedName(text.slice(TABLE_PREFIX.length))}`;
  const query = text.replace(/[\s;]+$/u, '');
  if (query === '') {
    throw new OpenIrError('INVALID_INPUT', 'The PostgreSQL source has no query.', {
      fix: 'Give a query (--source <credential>:SELECT …) or a table (--source <credential>:table:<name>).',
    });
  }
  const first = firstKeyword(query);
  if (first !== 'select' && first !== 'with') {
    throw new OpenIrError(
      'INVALID_INPUT',
      `A PostgreSQL source runs one SELECT (or WITH … SELECT); this query starts with ${first ? `"${first.toUpperCase()}"` : 'no keyword'}.`,
      { fix: 'Give a single SELECT query, or table:<name> to read a whole table.' },
    );
  }
  return query;
}

/** The first word of a query, lower-cased, past whitespace, comments (nested, as PostgreSQL allows) and "(". */
function firstKeyword(query: string): string | null {
  let at = 0;
  while (at < query.length) {
    if (/[\s(]/u.test(query[at] ?? '')) at += 1;
    else if (query.startsWith('--', at)) {
      const end = query.indexOf('\n', at);
      at = end < 0 ? query.length : end + 1;
    } else if (query.startsWith('/*', at)) {
      let depth = 0;
      do {
        const step = query.startsWith('/*', at) ? 1 : query.startsWith('*/', at) ? -1 : 0;
        depth += step;
        at += step === 0 ? 1 : 2;
      } while (depth > 0 && at < query.length);
    } else break;
  }
  return /^[A-Za-z_]+/u.exec(query.slice(at))?.[0].toLowerCase() ?? null;
}

/**
 * The COPY statement for a format. CSV (and raw, which for a query means CSV)
 * is PostgreSQL's own CSV with a header, byte for byte what `psql \copy` gives.
 * NDJSON is one `row_to_json` per line, so types survive (numbers, booleans,
 * nulls); COPY's text format escapes only backslashes in it (JSON has no raw
 * control characters), which `CopyTextUnescape` undoes.
 */
export function copyStatementFor(location: string, format: JobFormat): string {
  const select = selectFor(location);
  // On lines of their own, so a "--" comment closing the query cannot swallow the wrapper's ")".
  if (format === 'ndjson') return `COPY (SELECT row_to_json(q)::text FROM (\n${select}\n) AS q) TO STDOUT`;
  return `COPY (\n${select}\n) TO STDOUT WITH (FORMAT csv, HEADER true)`;
}

function quoteQualifiedName(name: string): string {
  const notAName = () =>
    new OpenIrError('INVALID_INPUT', `"${name}" is not a table name.`, {
      fix: 'Write table:<name> or table:<schema>.<name>; put names with other characters in double quotes.',
    });
  // A part is "quoted" (with "" for a quote inside) or a plain identifier, then "." or the end.
  const part = /\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))\s*(\.|$)/y;
  const parts: string[] = [];
  for (let at = 0; ;) {
    part.lastIndex = at;
    const match = part.exec(name);
    if (!match || parts.length === 3) throw notAName();
    // Quoted parts keep their case and doubled quotes; plain ones fold to lower case, as PostgreSQL does.
    parts.push(match[1] ?? (match[2] ?? '').toLowerCase());
    at = part.lastIndex;
    if (match[3] === '') break;
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/**
 * Opens a streamed COPY … TO STDOUT on a new connection and returns its bytes.
 * Nothing is held in memory beyond the stream buffers: the connection's socket
 * is paused while the consumer is behind (pg-copy-streams reads it on demand).
 * When the stream is destroyed before the end (cancel, sink failure), the
 * query is cancelled on the server (CancelRequest) and the socket closed, so
 * the backend stops even in the middle of a slow query.
 */
export async function openPostgresSource(
  credential: PostgresCredential,
  location: string,
  format: JobFormat,
  signal: AbortSignal,
): Promise<Readable> {
  const select = selectFor(location);
  const statement = copyStatementFor(location, format);
  signal.throwIfAborted();
  const config: ClientConfig = {
    host: credential.host,
    port: credential.port,
    database: credential.database,
    user: credential.user,
    // Never the ambient PGPASSWORD or ~/.pgpass: a node uses only what its credential holds.
    password: credential.password ?? '',
    ssl: credential.ssl,
    application_name: 'OpenIR',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    // A guard against a query that writes by mistake; the database role is the real boundary.
    options: '-c default_transaction_read_only=on',
  };
  const client = new Client(config);
  const out: Transform =
    format === 'ndjson'
      ? new CopyTextUnescape({ highWaterMark: HIGH_WATER_MARK })
      : new PassThrough({ highWaterMark: HIGH_WATER_MARK });
  // A query error can arrive before the copy's pipeline listens; the stream keeps it
  // (`errored`) and the pipeline reports it, but an unheard 'error' would crash the host.
  out.on('error', () => undefined);
  let failure: OpenIrError | null = null;
  // Without a listener a dropped connection would crash the host.
  client.on('error', (error: Error) => {
    failure ??= describePostgresError(credential, error);
    out.destroy(failure);
  });
  const abortConnect = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', abortConnect, { once: true });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    signal.throwIfAborted();
    throw describePostgresError(credential, error);
  } finally {
    signal.removeEventListener('abort', abortConnect);
  }

  try {
    const parse = new ParseOnServer(select);
    client.query(parse);
    await parse.done;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw describePostgresError(credential, error);
  }
  const copy = client.query(copyTo(statement, { highWaterMark: HIGH_WATER_MARK }));
  let copied = false;
  copy.once('end', () => {
    copied = true;
    void client.end().catch(() => undefined);
  });
  copy.on('error', (error: Error) => {
    failure ??= describePostgresError(credential, error);
    out.destroy(failure);
  });
  out.once('close', () => {
    if (copied) return;
    copy.unpipe(out);
    void cancelBackend(credential, client);
    // A paused socket would never see the server's end; close it outright.
    client.connection.stream.destroy();
  });
  copy.pipe(out);
  return out;
}

/**
 * The query alone, parsed by the server with the extended protocol (Parse and
 * Describe, then Sync: never Execute). A Parse message holds exactly one
 * statement, so a query that would close the COPY wrapper and stack its own
 * statements (`SELECT 1) TO STDOUT; COMMIT; BEGIN READ WRITE; …`) is refused
 * here, before anything runs; what passes is one balanced statement, which
 * wrapped in COPY stays one statement. The read-only session and, above all,
 * the database role's grants remain the boundary for what that one may do.
 */
class ParseOnServer extends EventEmitter implements Submittable {
  private settle: { resolve: () => void; reject: (error: Error) => void } | null = null;
  readonly done: Promise<void>;

  constructor(private readonly text: string) {
    super();
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  submit(connection: Connection): void {
    const wire = connection as unknown as WireConnection;
    wire.parse({ text: this.text, types: [] });
    wire.describe({ type: 'S', name: '' });
    wire.sync();
  }

  // What the client hands the active query while Parse/Describe are answered.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}

  // pg hands an error to the active query and then forgets it: the ReadyForQuery after it goes to nobody.
  handleError(error: Error): void {
    const sqlState = Reflect.get(error, 'code');
    this.settle?.reject(
      sqlState === '42601' && /multiple commands/i.test(error.message)
        ? new OpenIrError(
            'DATA_SOURCE_MULTIPLE_STATEMENTS',
            'The PostgreSQL source query holds more than one statement; none of them was run.',
            {
              fix: 'Give a single SELECT query (no ";" between statements), or table:<name>.',
              cause: error,
            },
          )
        : sqlState === '42601'
          ? new OpenIrError(
              'INVALID_INPUT',
              `The PostgreSQL source query is not valid SQL: ${error.message}.`,
              {
                fix: 'Correct the query; try it in psql first.',
                cause: error,
              },
            )
          : error,
    );
  }

  handleReadyForQuery(): void {
    this.settle?.resolve();
  }
}

/** The parts of pg's Connection this file speaks to directly (not in @types/pg). */
interface WireConnection {
  parse(query: { text: string; types: number[] }): void;
  describe(message: { type: 'S' | 'P'; name: string }): void;
  sync(): void;
}

/** PostgreSQL's CancelRequest: a new connection carrying the backend's pid and secret key; no authentication. */
export function cancelBackend(credential: PostgresCredential, client: Client): Promise<void> {
  const pid: unknown = Reflect.get(client, 'processID');
  const key: unknown = Reflect.get(client, 'secretKey');
  if (typeof pid !== 'number' || typeof key !== 'number') return Promise.resolve();
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(pid, 8);
  packet.writeInt32BE(key, 12);
  return new Promise((resolve) => {
    const socket = net.connect({ host: credential.host, port: credential.port });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_TIMEOUT_MS);
    socket.once('connect', () => socket.end(packet));
    // The server closes the connection once it has read the request.
    socket.once('close', done);
    socket.once('error', done);
  });
}

/** SQLSTATEs that mean the server refused who we are, not what we asked. */
const AUTH_SQLSTATES = new Set(['28P01', '28000']);

export function describePostgresError(credential: PostgresCredential, error: unknown): OpenIrError {
  if (error instanceof OpenIrError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const sqlState = typeof error === 'object' && error !== null ? Reflect.get(error, 'code') : undefined;
  const where = `${credential.host}:${credential.port}/${credential.database}`;
  const setAgain = `openir credential set ${credential.name} --type postgresql --host ${credential.host} --port ${credential.port} --database ${credential.database} --user ${credential.user}${credential.ssl ? '' : ' --no-ssl'} --secret-stdin`;
  if (typeof sqlState === 'string' && AUTH_SQLSTATES.has(sqlState)) {
    return new OpenIrError(
      'DATA_SOURCE_AUTH_FAILED',
      `PostgreSQL at ${where} refused the credential "${credential.name}" (user "${credential.user}"): ${message}.`,
      {
        fix: `Set the right password with \`${setAgain}\` (the password on standard input), or check the server's pg_hba.conf for this user and host.`,
        cause: error,
      },
    );
  }
  if (/client password must be/i.test(message)) {
    return new OpenIrError(
      'DATA_SOURCE_AUTH_FAILED',
      `PostgreSQL at ${where} asks for a password, and the credential "${credential.name}" has none.`,
      { fix: `Save one with \`${setAgain}\` (the password on standard input).`, cause: error },
    );
  }
  if (/does not support SSL/i.test(message)) {
    return new OpenIrError(
      'DATA_SOURCE_FAILED',
      `PostgreSQL at ${where} does not accept TLS, which the credential "${credential.name}" requires.`,
      {
        fix: `Enable ssl on the server, or set the credential with --no-ssl if the network is trusted: \`${setAgain.replace(' --secret-stdin', ' --no-ssl')}\`.`,
        cause: error,
      },
    );
  }
  if (typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState)) {
    const fix =
      sqlState === '3D000'
        ? `Check the database name of the credential "${credential.name}".`
        : sqlState === '25006'
          ? 'A source query runs in a read-only transaction: give a query that only reads.'
          : sqlState === '57014'
            ? 'The query was cancelled on the server (statement_timeout or an administrator); run the job again.'
            : 'Check the query (or the table name after "table:") and that the user may read it.';
    return new OpenIrError(
      'DATA_SOURCE_FAILED',
      `PostgreSQL at ${where} (credential "${credential.name}") answered: ${message} [SQLSTATE ${sqlState}].`,
      { fix, cause: error },
    );
  }
  return new OpenIrError(
    'DATA_SOURCE_FAILED',
    `Cannot reach PostgreSQL at ${credential.host}:${credential.port} for the credential "${credential.name}": ${message}.`,
    {
      fix: 'Check that the server runs and that this node can reach its host and port (firewall, listen_addresses).',
      cause: error,
    },
  );
}

const BACKSLASH = 0x5c;
/** COPY TO's text-format escapes (it writes no octal or hex ones). */
const UNESCAPED: Record<number, number> = {
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x76: 0x0b, // \v
};

/** Undoes COPY's text-format escaping of one-column rows, across chunk boundaries. */
export class CopyTextUnescape extends Transform {
  private carry: Buffer | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const input = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    let at = input.indexOf(BACKSLASH);
    if (at === -1) return callback(null, input);
    const out = Buffer.allocUnsafe(input.length);
    let written = 0;
    let start = 0;
    while (at !== -1) {
      written += input.copy(out, written, start, at);
      const next = input[at + 1];
      if (next === undefined) {
        // An escape split across chunks: finish it with the next one.
        this.carry = Buffer.from(input.subarray(at));
        start = input.length;
        break;
      }
      out[written] = UNESCAPED[next] ?? next;
      written += 1;
      start = at + 2;
      at = input.indexOf(BACKSLASH, start);
    }
    if (start < input.length) written += input.copy(out, written, start);
    callback(null, out.subarray(0, written));
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.carry ?? undefined);
  }
}
