import fs from 'node:fs';
import http from 'node:http';
import type { Readable } from 'node:stream';
import { OpenIrError } from '../../shared/errors';
import type { Connector } from '../connector';
import type { SourceRequest } from './copyActivity';
import type { CredentialStore, ResolvedCredential } from './credentialStore';
import type { LocalPathPolicy } from './pathPolicy';

export interface SourceDeps {
  credentials: CredentialStore;
  paths: LocalPathPolicy;
  /** The node's proxy setting, for HTTPS data stores (plain HTTP ones are fetched directly). */
  connector: () => Connector;
}

const HTTP_CONNECT_TIMEOUT_MS = 15_000;

/**
 * Opens the job's source as a byte stream: a file under a localFolder
 * credential, an HTTP(S) GET, or a PostgreSQL query streamed by COPY in the
 * job's format.
 */
export async function openSource(
  deps: SourceDeps,
  source: SourceRequest,
  signal: AbortSignal,
): Promise<Readable> {
  const credential = await deps.credentials.resolve(source.credential, ['localFolder', 'http', 'postgresql']);
  if (credential.type === 'localFolder') {
    const file = await deps.paths.forRead(credential.root, source.path);
    const stream = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) =>
        reject(
          new OpenIrError('DATA_SOURCE_FAILED', `Cannot read ${file}: ${error.message}.`, {
            fix: 'Check that the file exists and that the OpenIR host may read it.',
            cause: error,
          }),
        ),
      );
    });
    return stream;
  }
  if (credential.type === 'http') return openHttp(deps, credential, source.path, signal);
  // Loaded on first use: the PostgreSQL driver is ~15 MB resident that an idle node should not carry.
  const { openPostgresSource } = await import('./postgresSource.js');
  return openPostgresSource(credential, source.path, source.format, signal);
}

function openHttp(
  deps: SourceDeps,
  credential: Extract<ResolvedCredential, { type: 'http' }>,
  location: string,
  signal: AbortSignal,
): Promise<Readable> {
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
          resolve(res);
          return;
        }
        res.resume();
        reject(
          new OpenIrError(
            'DATA_SOURCE_FAILED',
            `GET ${url.origin}${url.pathname} answered HTTP ${status}${status === 401 || status === 403 ? ': the credential was refused' : ''}.`,
            {
              fix:
                status === 401 || status === 403
                  ? `Set the token again with \`openir credential set ${credential.name} --type http … --secret-stdin\`.`
                  : 'Check the path in the job source.',
            },
          ),
        );
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
