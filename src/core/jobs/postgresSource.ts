import net from 'node:net';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Client, type ClientConfig } from 'pg';
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
  return query;
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
  if (format === 'ndjson') return `COPY (SELECT row_to_json(q)::text FROM (${select}) AS q) TO STDOUT`;
  return `COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER true)`;
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
    failure ??= describeError(credential, error);
    out.destroy(failure);
  });
  const abortConnect = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', abortConnect, { once: true });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    signal.throwIfAborted();
    throw describeError(credential, error);
  } finally {
    signal.removeEventListener('abort', abortConnect);
  }

  const copy = client.query(copyTo(statement, { highWaterMark: HIGH_WATER_MARK }));
  let copied = false;
  copy.once('end', () => {
    copied = true;
    void client.end().catch(() => undefined);
  });
  copy.on('error', (error: Error) => {
    failure ??= describeError(credential, error);
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

function describeError(credential: PostgresCredential, error: unknown): OpenIrError {
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
