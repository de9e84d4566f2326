import { Writable } from 'node:stream';
import { Client, type ClientConfig } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { OpenIrError } from '../../shared/errors';
import { TABLE_SINK_PREFIX, type JobFormat, type JobMode } from '../../shared/jobs';
import type { OpenedSink } from './copyEnds';
import { cancelBackend, type PostgresCredential } from './postgresSource';

/*
 * A PostgreSQL table as a sink: `COPY <table> (<the CSV header's columns>)
 * FROM STDIN (FORMAT csv, HEADER MATCH)` in one transaction, so the table gets
 * all the rows or none. Columns go by the names in the CSV's header line, not
 * by position: a CSV with its columns in another order loads right, one that
 * names a column the table lacks is refused (SINK_DATA_REJECTED) and loads
 * nothing; table columns the CSV does not name get their defaults. HEADER
 * MATCH is PostgreSQL 15+; an older server gets HEADER true with the same
 * column list, which maps by name just the same (MATCH only re-checks the
 * header against that list). Mode truncate empties the table in the same
 * transaction. A failed try rolls back; the retry loads again from byte 0 in
 * a new transaction (held() is 0), so no row is loaded twice. Loaded on first
 * use (jobService.ts imports it dynamically), with `pg`, like the source.
 */

const CONNECT_TIMEOUT_MS = 15_000;
/** How long an abort waits for ROLLBACK before it closes the connection (which rolls back too). */
const ROLLBACK_TIMEOUT_MS = 5_000;
/** A header line longer than this is not a header (a CSV without line ends, or not CSV at all). */
const HEADER_MAX_BYTES = 1024 * 1024;

/**
 * The column names of a CSV header line (RFC 4180: comma-separated, a field in
 * double quotes may hold commas and "" for a quote; a trailing CR is dropped).
 * Throws SINK_DATA_REJECTED for an empty name or a stray quote.
 */
export function csvHeaderColumns(line: string, table: string): string[] {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const refuse = (why: string) =>
    new OpenIrError(
      'SINK_DATA_REJECTED',
      `The CSV header line cannot load into ${table}: ${why}. Nothing was loaded.`,
      {
        fix: "Start the CSV with a header line naming the table's columns, comma-separated (in any order).",
      },
    );
  const columns: string[] = [];
  let at = 0;
  for (;;) {
    let name = '';
    if (text[at] === '"') {
      at += 1;
      for (;;) {
        const quote = text.indexOf('"', at);
        if (quote < 0) throw refuse('a quoted column name is not closed');
        name += text.slice(at, quote);
        at = quote + 1;
        if (text[at] !== '"') break;
        name += '"';
        at += 1;
      }
      if (at < text.length && text[at] !== ',') throw refuse(`text after the quoted column name "${name}"`);
    } else {
      const comma = text.indexOf(',', at);
      name = text.slice(at, comma < 0 ? text.length : comma);
      if (name.includes('"')) throw refuse(`a stray quote in the column name ${name}`);
      at = comma < 0 ? text.length : comma;
    }
    if (name === '') throw refuse(`column ${columns.length + 1} has no name`);
    columns.push(name);
    if (at >= text.length) return columns;
    at += 1;
  }
}

/** A column name as a quoted identifier: exactly as the header spells it ("" for a quote). */
function quotedColumn(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * `table:<table>` or `table:<schema>.<table>` as a quoted identifier: each part
 * a plain identifier (folded to lower case, as PostgreSQL does) or a "quoted"
 * one (case kept, "" for a quote). Anything else is refused.
 */
export function quotedSinkTable(location: string): string {
  const notATable = () =>
    new OpenIrError('INVALID_INPUT', `"${location}" is not a table sink.`, {
      fix: 'Write --sink <credential>:table:<table> or <credential>:table:<schema>.<table>; put names with other characters in double quotes.',
    });
  if (!location.startsWith(TABLE_SINK_PREFIX)) throw notATable();
  const name = location.slice(TABLE_SINK_PREFIX.length);
  const part = /(?:"((?:[^"\0]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))(\.|$)/y;
  const parts: string[] = [];
  for (let at = 0; ;) {
    part.lastIndex = at;
    const match = part.exec(name);
    if (!match || parts.length === 2) throw notATable();
    parts.push(match[1] ?? (match[2] ?? '').toLowerCase());
    at = part.lastIndex;
    if (match[3] === '') break;
  }
  // Doubled quotes inside a quoted part stay doubled: they are already escaped.
  return parts.map((p) => `"${p}"`).join('.');
}

export async function openPostgresSink(
  credential: PostgresCredential,
  location: string,
  format: JobFormat,
  mode: JobMode = 'append',
): Promise<OpenedSink> {
  if (format !== 'csv') {
    throw new OpenIrError('INVALID_INPUT', `A table sink loads CSV only, not ${format}.`, {
      fix: 'Submit the job with --format csv.',
    });
  }
  const table = quotedSinkTable(location);
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
  };
  const client = new Client(config);
  let failure: unknown = null;
  /** Set once we close the connection ourselves: what it then says is not a refusal. */
  let closing = false;
  const fail = (error: unknown) => {
    if (closing) return error;
    failure ??= sinkError(credential, location, error);
    return failure;
  };
  // Without a listener a dropped connection would crash the host.
  client.on('error', (error: Error) => void fail(error));
  /** PostgreSQL 15+: COPY checks the header line against the column list itself. */
  let headerMatch = false;
  try {
    await client.connect();
    const found = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [table]);
    if (found.rows[0]?.oid == null) {
      throw new OpenIrError(
        'SINK_TABLE_NOT_FOUND',
        `The table ${table} does not exist in ${where(credential)} (credential "${credential.name}").`,
        { fix: 'Create the table first (the sink loads into an existing table), or correct the table name.' },
      );
    }
    const version = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    headerMatch = Number(version.rows[0]?.server_version_num) >= 150000;
    await client.query('BEGIN');
    if (mode === 'truncate') await client.query(`TRUNCATE ${table}`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw fail(error);
  }

  let copy: ReturnType<typeof copyFrom> | null = null;
  let rows: number | undefined;
  let ended = false;
  /** The COPY has ended on the server (its stream finished); COMMIT is still to come. */
  let copied = false;
  const end = async () => {
    if (ended) return;
    ended = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ROLLBACK_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    // A connection closed in the middle of anything is rolled back by the server.
    client.connection.stream.destroy();
  };
  return {
    held: async () => 0,
    open(offset) {
      if (offset !== 0) throw new Error('A table sink starts at byte 0.');
      // The COPY starts once the header line is in: its column list comes from that line.
      const startCopy = (header: string | null) => {
        const columns =
          header === null ? '' : ` (${csvHeaderColumns(header, table).map(quotedColumn).join(', ')})`;
        const started = client.query(
          copyFrom(
            `COPY ${table}${columns} FROM STDIN WITH (FORMAT csv, HEADER ${headerMatch && columns ? 'MATCH' : 'true'})`,
          ),
        );
        copy = started;
        started.once('finish', () => (copied = true));
        // Destroyed mid-COPY (a cancel, a source that broke): pg-copy-streams sends CopyFail and waits
        // for the server's answer, which comes only once the server has read all the data queued before
        // it. Closing the connection too ends the wait at once; the server rolls back either way.
        const destroyCopy = started._destroy.bind(started);
        started._destroy = (error, callback) => {
          destroyCopy(error, callback);
          if (copied) return;
          closing = true;
          ended = true;
          // The CancelRequest stops the backend at once; closed alone, it would first load what it had buffered.
          void cancelBackend(credential, client);
          setImmediate(() => client.connection.stream.destroy());
        };
        started.on('error', (error: Error) => {
          // 57014 after our own CopyFail: the source broke (or the job was cancelled); its error tells.
          if (Reflect.get(error, 'code') !== '57014') fail(error);
        });
        return started as Writable;
      };
      return new HeaderFirst(
        startCopy,
        (error) => {
          failure ??= error;
        },
        () => client.connection.stream,
      );
    },
    async commit() {
      try {
        rows = copy?.rowCount;
        await client.query('COMMIT');
      } catch (error) {
        throw fail(error);
      } finally {
        await end();
      }
    },
    async abort() {
      if (ended) return;
      if (copy && !copied) {
        // Mid-COPY: closing the connection rolls back on the server at once, where a ROLLBACK
        // would wait behind the COPY's end.
        closing = true;
        ended = true;
        void cancelBackend(credential, client);
        client.connection.stream.destroy();
        return;
      }
      // ROLLBACK when the connection still lives; a closed one has rolled back on the server.
      if (!failure) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          client.query('ROLLBACK').catch(() => undefined),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, ROLLBACK_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
      }
      await end();
    },
    refusal: async () => failure,
    rows: () => rows,
  };
}

function where(credential: PostgresCredential): string {
  return `PostgreSQL at ${credential.host}:${credential.port}/${credential.database}`;
}

/** SQLSTATEs that mean the server refused who we are, not what we asked. */
const AUTH_SQLSTATES = new Set(['28P01', '28000']);

/** A server answer or a network failure as the coded error a user can act on; a dropped connection stays transient. */
function sinkError(credential: PostgresCredential, location: string, error: unknown): unknown {
  if (error instanceof OpenIrError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  const message = error instanceof Error ? error.message : String(error);
  const sqlState = typeof error === 'object' && error !== null ? Reflect.get(error, 'code') : undefined;
  const at = `${where(credential)} (credential "${credential.name}")`;
  const setAgain = `openir credential set ${credential.name} --type postgresql --host ${credential.host} --port ${credential.port} --database ${credential.database} --user ${credential.user}${credential.ssl ? '' : ' --no-ssl'} --secret-stdin`;
  if (
    (typeof sqlState === 'string' && AUTH_SQLSTATES.has(sqlState)) ||
    /client password must be/i.test(message)
  ) {
    return new OpenIrError(
      'DATA_SOURCE_AUTH_FAILED',
      `${where(credential)} refused the credential "${credential.name}" (user "${credential.user}"): ${message}.`,
      {
        fix: `Set the right password with \`${setAgain}\` (the password on standard input), or check the server's pg_hba.conf for this user and host.`,
        cause: error,
      },
    );
  }
  if (sqlState === '42P01') {
    return new OpenIrError('SINK_TABLE_NOT_FOUND', `${at} answered: ${message} [SQLSTATE 42P01].`, {
      fix: `Create the table first, or correct the table in --sink ${credential.name}:${location}.`,
      cause: error,
    });
  }
  // Class 22 (data exception: wrong column count, bad value, a header that does not match), 23
  // (constraint), and a header naming a column the table lacks (42703) or one twice (42701): the data itself.
  if (
    typeof sqlState === 'string' &&
    (/^2[23]/.test(sqlState) || sqlState === '42703' || sqlState === '42701')
  ) {
    return new OpenIrError(
      'SINK_DATA_REJECTED',
      `${at} refused the data for ${location.slice(TABLE_SINK_PREFIX.length)}: ${message} [SQLSTATE ${sqlState}]. Nothing was loaded.`,
      {
        fix: "Make the CSV's header line name only columns the table has (in any order, spelled exactly as in the table), and its values fit their types.",
        cause: error,
      },
    );
  }
  // A connection lost mid-load (57P01, 08xxx, "Connection terminated") keeps its code in `cause`: retried.
  return new OpenIrError(
    'DATA_SINK_FAILED',
    typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState)
      ? `${at} answered: ${message} [SQLSTATE ${sqlState}].`
      : `The load into ${where(credential)} failed: ${message}.`,
    {
      fix: 'Check that the server runs, that this node reaches it, and that the user may write the table (INSERT, and TRUNCATE for --mode truncate).',
      cause: error,
    },
  );
}

/**
 * The stream a table sink hands the copy: it holds the bytes until the first
 * line end, opens the COPY with that header line's columns (`start`), then
 * passes everything on, header included (COPY reads the header line itself),
 * with the COPY stream's back-pressure.
 */
export class HeaderFirst extends Writable {
  private head: Buffer[] = [];
  private headBytes = 0;
  private copy: Writable | null = null;

  constructor(
    private readonly start: (header: string | null) => Writable,
    private readonly refused: (error: OpenIrError) => void,
    /** The connection's socket, whose high-water mark `pass` needs. */
    private readonly socket: () => { writableHighWaterMark: number },
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      if (this.copy) return this.pass(chunk, callback);
      const lineEnd = chunk.indexOf(0x0a);
      // A copy: the source may read into this buffer again once this write has called back.
      this.head.push(Buffer.from(chunk));
      this.headBytes += chunk.length;
      if (lineEnd < 0) {
        if (this.headBytes > HEADER_MAX_BYTES) {
          throw new OpenIrError(
            'SINK_DATA_REJECTED',
            `The CSV has no header line end within its first ${HEADER_MAX_BYTES} bytes. Nothing was loaded.`,
            { fix: 'Load CSV with a header line naming the columns, one record per line.' },
          );
        }
        return callback();
      }
      const held = Buffer.concat(this.head);
      const header = held.subarray(0, this.headBytes - chunk.length + lineEnd).toString('utf8');
      this.head = [];
      this.open(header);
      this.pass(held, callback);
    } catch (error) {
      if (error instanceof OpenIrError) this.refused(error);
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      // No line end at all: the whole input is the header line (or nothing).
      if (!this.copy) {
        const held = Buffer.concat(this.head);
        this.head = [];
        const opened = this.open(held.length > 0 ? held.toString('utf8') : null);
        if (held.length > 0) opened.write(held);
      }
      const copy = this.copy as Writable;
      copy.once('finish', () => callback());
      copy.once('error', (error) => callback(error));
      copy.end();
    } catch (error) {
      if (error instanceof OpenIrError) this.refused(error);
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.copy && !this.copy.destroyed) this.copy.destroy(error ?? undefined);
    callback(error);
  }

  private open(header: string | null): Writable {
    const copy = this.start(header);
    this.copy = copy;
    // A refusal mid-COPY ends this stream too, so the copy activity sees it at once.
    copy.on('error', (error) => this.destroy(error));
    return copy;
  }

  /**
   * Calls back when the COPY stream is done with the chunk, as the copy meter
   * expects of a sink (the source may then fill its buffer again).
   * pg-copy-streams calls back as soon as the socket's write() says "more",
   * which a chunk smaller than the socket's high-water mark can do while it
   * still waits in the socket's queue: such a chunk is copied first. A larger
   * one always makes it wait for 'drain', when the kernel has every byte.
   */
  private pass(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const data = chunk.length < this.socket().writableHighWaterMark ? Buffer.from(chunk) : chunk;
    (this.copy as Writable).write(data, (error) => callback(error));
  }
}
