import http from 'node:http';
import { OpenIrError } from '../../shared/errors';
import type { Connector } from '../connector';
import type { OpenedSource, SourceRequest } from './copyEnds';
import type { CredentialStore, ResolvedCredential } from './credentialStore';
import type { LocalPathPolicy } from './pathPolicy';
import { FileChunks } from './fileChunks';
import { markTransient } from './retry';

export interface SourceDeps {
  credentials: Pick<CredentialStore, 'resolve'>;
  paths: LocalPathPolicy;
  /** The node's proxy setting, for HTTPS data stores (plain HTTP ones are fetched directly). */
  connector: () => Connector;
}

const HTTP_CONNECT_TIMEOUT_MS = 15_000;
/** Bigger reads than the default 64 KiB: fewer chunks through meter, TLS and socket for the same bytes. */
const FILE_READ_CHUNK = 1024 * 1024;
/** Enough reused read buffers for every chunk in flight: read ahead, meter, socket buffer, TLS. */
const FILE_BUFFERS_KEPT = 8;

/**
 * Opens the job's source as a byte stream: a file under a localFolder
 * credential, an HTTP(S) GET, or a PostgreSQL query streamed by COPY in the
 * job's format. A retry asks for `source.offset`: a file seeks there, an HTTP
 * GET asks for `Range: bytes=<offset>-` (with If-Range, so a changed
 * document comes whole), a blob is read in ranges from there (azureBlob.ts),
 * an SFTP file is read from there if its size and mtime are unchanged (sftp.ts),
 * and a query starts at 0 (see openPostgresSource).
 */
export async function openSource(
  deps: SourceDeps,
  source: SourceRequest,
  signal: AbortSignal,
): Promise<OpenedSource> {
  const credential = await deps.credentials.resolve(source.credential, [
    'localFolder',
    'http',
    'postgresql',
    'azureBlob',
    'mysql',
    'sftp',
  ]);
  const offset = source.offset ?? 0;
  if (credential.type === 'localFolder') {
    // Opened without following a link and checked on the handle (pathPolicy.ts).
    const { handle, ...stat } = await deps.paths.openForRead(credential.root, source.path);
    // Resume only the same file: size and modification time as they were on the first try.
    const validator = `file:${stat.size}:${stat.mtimeMs}`;
    const start = offset > 0 && offset <= stat.size && source.validator === validator ? offset : 0;
    // Bounded at the size seen now, so the upload can say its length (no chunked framing) and
    // a file that grows meanwhile is copied as it was; one that shrinks fails the copy.
    const bounded = stat.size > start;
    const stream = new FileChunks(handle, {
      start,
      end: bounded ? stat.size : Infinity,
      chunkSize: FILE_READ_CHUNK,
      keep: FILE_BUFFERS_KEPT,
    });
    return {
      stream,
      offset: start,
      validator,
      release: stream.release,
      ...(bounded ? { size: stat.size - start } : {}),
    };
  }
  if (credential.type === 'http') return openHttp(deps, credential, source, signal);
  if (credential.type === 'azureBlob') {
    // Loaded on first use, like the PostgreSQL driver: the Azure SDK is several MB resident.
    const { openBlobSource } = await import('./azureBlob.js');
    return openBlobSource(deps.connector(), credential, source.path, source, signal);
  }
  if (credential.type === 'sftp') {
    // Loaded on first use, with ssh2: an idle node carries no SSH code.
    const { openSftpSource } = await import('./sftp.js');
    return openSftpSource(credential, source.path, source, signal);
  }
  if (credential.type === 'mysql') {
    // Loaded on first use, like the PostgreSQL driver (mysql2 itself loads when the query starts).
    const { openMysqlSource } = await import('./mysqlSource.js');
    // Like a PostgreSQL query: no seeking, so a retry re-runs it from byte 0.
    return { ...(await openMysqlSource(credential, source.path, source.format, signal)), offset: 0 };
  }
  // Loaded on first use: the PostgreSQL driver is ~15 MB resident that an idle node should not carry.
  const { openPostgresSource } = await import('./postgresSource.js');
  // A query cannot seek, and running it again need not give the same bytes in the same
  // order (no ORDER BY, synchronized scans, rows changed meanwhile): so a retry re-runs it
  // from byte 0 and the staging upload starts over (truncated), never splicing two runs.
  return { stream: await openPostgresSource(credential, source.path, source.format, signal), offset: 0 };
}

function openHttp(
  deps: SourceDeps,
  credential: Extract<ResolvedCredential, { type: 'http' }>,
  source: SourceRequest,
  signal: AbortSignal,
): Promise<OpenedSource> {
  const location = source.path;
  const offset = source.offset ?? 0;
  const base = new URL(credential.baseUrl);
  const url = new URL(location, base.href.endsWith('/') ? base : `${base.href}/`);
  // The credential's token and headers are for its own endpoint; never send them elsewhere.
  if (url.origin !== base.origin) {
    return Promise.reject(
      new OpenIrError(
        'DATA_SOURCE_FAILED',
        `${url.origin} is not the endpoint of the credential "${credential.name}" (${base.origin}).`,
        { fix: 'Give a path under the credential base URL, or set a credential for that endpoint.' },
      ),
    );
  }
  const headers: Record<string, string> = { ...credential.headers };
  if (credential.bearerToken) headers.authorization = `Bearer ${credential.bearerToken}`;
  // Resume only the same document: without a validator from the first answer, start over.
  const ranged = offset > 0 && source.validator !== undefined;
  if (ranged) {
    headers.range = `bytes=${offset}-`;
    headers['if-range'] = source.validator as string;
  }
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { ...headers, host: url.host },
        signal,
        timeout: HTTP_CONNECT_TIMEOUT_MS,
        ...(secure ? { createConnection: deps.connector().createConnection(url.origin, {}) } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // The connect timeout must not cut a slow but live transfer.
          req.setTimeout(0);
          const range = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
          const resumed = ranged && status === 206 && Number(range?.[1]) === offset;
          if (status === 206 && !resumed) {
            // A range we did not ask for: not the document from its start; try again from 0.
            res.destroy();
            reject(
              markTransient(
                new OpenIrError(
                  'DATA_SOURCE_FAILED',
                  `GET ${url.origin}${url.pathname} answered an unexpected range.`,
                ),
              ),
            );
            return;
          }
          const length = Number(res.headers['content-length']);
          resolve({
            stream: res,
            offset: resumed ? offset : 0,
            ...validatorOf(res.headers),
            ...(res.headers['content-length'] !== undefined && Number.isSafeInteger(length) && length >= 0
              ? { size: length }
              : {}),
          });
          return;
        }
        res.resume();
        const busy = status >= 500 || status === 429 || status === 408;
        // The same codes Test connection gives for the same answers.
        const failure = new OpenIrError(
          status === 401 || status === 403
            ? 'DATA_STORE_AUTH_FAILED'
            : status === 404
              ? 'DATA_STORE_NOT_FOUND'
              : 'DATA_SOURCE_FAILED',
          `GET ${url.origin}${url.pathname} answered HTTP ${status}${status === 401 || status === 403 ? ': the credential was refused' : ''}.`,
          {
            fix:
              status === 401 || status === 403
                ? `Set the token again with \`openir credential set ${credential.name} --type http … --secret-stdin\`.`
                : busy
                  ? 'The data store is busy or failing; the job tried again a few times. Run it again later.'
                  : 'Check the path in the job source.',
          },
        );
        reject(busy ? markTransient(failure) : failure);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) =>
      reject(
        signal.aborted
          ? error
          : new OpenIrError('DATA_SOURCE_FAILED', `Cannot reach ${url.origin}: ${error.message}.`, {
              fix: 'Check that the data store is reachable from this node.',
              cause: error,
            }),
      ),
    );
    req.end();
  });
}

/** A strong ETag, else Last-Modified: what If-Range accepts to mean "this same document". */
function validatorOf(headers: http.IncomingHttpHeaders): { validator?: string } {
  const etag = headers.etag;
  if (typeof etag === 'string' && !etag.startsWith('W/')) return { validator: etag };
  const modified = headers['last-modified'];
  return typeof modified === 'string' ? { validator: modified } : {};
}
