import { Writable } from 'node:stream';
import { Client, type ClientConfig } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { OpenIrError } from '../../shared/errors';
import { TABLE_SINK_PREFIX, type JobFormat, type JobMode } from '../../shared/jobs';
import type { OpenedSink } from './copyEnds';
import { cancelBackend, type PostgresCredential } from './postgresSource';

/*
 * A PostgreSQL table as a sink: `COPY <table> FROM STDIN (FORMAT csv, HEADER
 * true)` in one transaction, so the table gets all the rows or none. Mode
 * truncate empties the table in the same transaction. A failed try rolls back;
 * the retry loads again from byte 0 in a new transaction (held() is 0), so no
 * row is loaded twice. Loaded on first use (jobService.ts imports it
 * dynamically), with `pg`, like the source.
 */

const CONNECT_TIMEOUT_MS = 15_000;
/** How long an abort waits for ROLLBACK before it closes the connection (which rolls back too). */
const ROLLBACK_TIMEOUT_MS = 5_000;

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
      copy = client.query(copyFrom(`COPY ${table} FROM STDIN WITH (FORMAT csv, HEADER true)`));
      copy.once('finish', () => (copied = true));
      // Destroyed mid-COPY (a cancel, a source that broke): pg-copy-streams sends CopyFail and waits
      // for the server's answer, which comes only once the server has read all the data queued before
      // it. Closing the connection too ends the wait at once; the server rolls back either way.
      const destroyCopy = copy._destroy.bind(copy);
      copy._destroy = (error, callback) => {
        destroyCopy(error, callback);
        if (copied) return;
        closing = true;
        ended = true;
        // The CancelRequest stops the backend at once; closed alone, it would first load what it had buffered.
        void cancelBackend(credential, client);
        setImmediate(() => client.connection.stream.destroy());
      };
      copy.on('error', (error: Error) => {
        // 57014 after our own CopyFail: the source broke (or the job was cancelled); its error tells.
        if (Reflect.get(error, 'code') !== '57014') fail(error);
      });
      return copy as Writable;
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
  // Class 22 (data exception: wrong column count, bad value) and 23 (constraint): the data itself.
  if (typeof sqlState === 'string' && /^2[23]/.test(sqlState)) {
    return new OpenIrError(
      'SINK_DATA_REJECTED',
      `${at} refused the data for ${location.slice(TABLE_SINK_PREFIX.length)}: ${message} [SQLSTATE ${sqlState}]. Nothing was loaded.`,
      {
        fix: "Make the CSV's columns (after its header line) match the table's columns, in order and type.",
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
