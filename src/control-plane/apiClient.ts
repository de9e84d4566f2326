import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import * as path from 'node:path';
import tls from 'node:tls';
import { OpenIrError, errorBodyOf, isOpenIrError } from '../shared/errors';
import { parseJsonOrNull } from '../shared/json';
import { ADMIN_API_PREFIX } from './adminApi';
import { ADMIN_TOKEN_FILE } from './factories';
import { readLocalApiRecord, type LocalApiRecord } from './localApi';
import { serveLockHolder } from './serveLock';
import { publicKeyPin } from './tls';

const CLI = 'openir-control-plane';
const REQUEST_TIMEOUT_MS = 30_000;
/** How long a command waits for a server that is starting (`serve &` then a command at once). */
const STARTING_WAIT_MS = 20_000;
/** The most a CLI answer may be (a diagnostics bundle is capped at 32 MiB on upload). */
const MAX_ANSWER_BYTES = 40 * 1024 * 1024;

/** Where the admin CLI sends its requests, from its flags. */
export interface ApiTargetOptions {
  /** `--url`: another machine's control plane (else $OPENIR_CONTROL_PLANE_URL, else the local one). */
  url?: string;
  /** `--pin`: the TLS public key pin to require of --url (else $OPENIR_CONTROL_PLANE_PIN). */
  pin?: string;
  /** `--token-stdin`: the API token is read from stdin (else $OPENIR_CONTROL_PLANE_TOKEN). */
  tokenStdin?: boolean;
}

export interface ApiEnvironment {
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  /** The local control plane's data directory; resolved only when no URL is given. */
  dataDir(): string;
}

/**
 * How the server's certificate is trusted: by the pin (checked during the
 * handshake, so the token is never sent to another key), or by the CAs Node
 * trusts (a control plane served with a CA-issued `--cert`).
 */
type Trust = { pin: string; certPem: string | null } | null;

export interface ApiAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  header(name: string): string | undefined;
}

/**
 * The admin CLI's way to the control plane: every command is a request to
 * the admin REST API (adminApi.ts) with a bearer token. On the control
 * plane's machine it finds the running server and the instance-admin token
 * in the data directory, so the admin there needs no setup.
 */
export class AdminApiClient {
  private constructor(
    readonly url: string,
    private readonly token: string,
    private trust: Trust,
    /** Said when the server does not answer: how to start it, or check the URL. */
    private readonly unreachableFix: string,
  ) {}

  static async connect(options: ApiTargetOptions, environment: ApiEnvironment): Promise<AdminApiClient> {
    const { env } = environment;
    const url = nonEmpty(options.url) ?? nonEmpty(env.OPENIR_CONTROL_PLANE_URL);
    let token: string | undefined;
    if (options.tokenStdin) {
      token = nonEmpty((await environment.readStdin()).trim());
      if (!token) {
        throw new OpenIrError('INVALID_INPUT', '--token-stdin read no token from stdin.', {
          fix: `Pipe the token in, e.g. \`${CLI} ir list --url U --token-stdin < token-file\`.`,
        });
      }
    } else token = nonEmpty(env.OPENIR_CONTROL_PLANE_TOKEN?.trim());

    if (url !== undefined) {
      const base = checkUrl(url);
      if (!token) {
        throw new OpenIrError('UNAUTHORIZED', `No API token for ${base}.`, {
          fix: 'Pipe a token to --token-stdin or set OPENIR_CONTROL_PLANE_TOKEN (a factory token from `factory create`, or the instance-admin token).',
        });
      }
      const pin = nonEmpty(options.pin) ?? nonEmpty(env.OPENIR_CONTROL_PLANE_PIN);
      return new AdminApiClient(
        base,
        token,
        pin ? { pin, certPem: null } : null,
        `Check --url ${base} and that the control plane runs there.`,
      );
    }

    const dataDir = environment.dataDir();
    const start = `Start it with \`${CLI} serve --data ${dataDir}\`, or give --url (or OPENIR_CONTROL_PLANE_URL) and a token.`;
    const record = await localRecord(dataDir);
    if (!record) {
      throw new OpenIrError(
        'CONTROL_PLANE_UNREACHABLE',
        `No control plane is running with the data directory ${dataDir}.`,
        { fix: start },
      );
    }
    return new AdminApiClient(
      record.url,
      token ?? readAdminToken(dataDir),
      { pin: record.pin, certPem: record.certPem },
      start,
    );
  }

  /** A request to `/api/v1/admin<route>`; a refusal is thrown as its `{ code, message, fix }`. */
  async call(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    route: string,
    options: { body?: unknown; accept?: 'json' | 'text' | 'any' } = {},
  ): Promise<ApiAnswer> {
    if (this.trust && this.trust.certPem === null)
      this.trust = { ...this.trust, certPem: await this.probe() };
    const payload = options.body === undefined ? null : Buffer.from(JSON.stringify(options.body));
    const accept =
      options.accept === 'text' ? 'text/plain' : options.accept === 'any' ? '*/*' : 'application/json';
    const target = new URL(`${ADMIN_API_PREFIX}${route}`, this.url);
    const requestOptions: RequestOptions = {
      method,
      agent: false,
      // Explicit, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn off the checks (and the pin's).
      rejectUnauthorized: true,
      timeout: REQUEST_TIMEOUT_MS,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept,
        ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
      },
      ...this.tlsOptions(),
    };
    const answer = await new Promise<ApiAnswer>((resolve, reject) => {
      const request = httpsRequest(target, requestOptions, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            response.destroy();
            reject(new OpenIrError('CONTROL_PLANE_ERROR', `The answer from ${this.url} is too large.`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => reject(this.failure(error)));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks),
            header: (name) => {
              const value = response.headers[name.toLowerCase()];
              return Array.isArray(value) ? value[0] : value;
            },
          }),
        );
      });
      request.on('timeout', () => request.destroy(new Error('ETIMEDOUT')));
      request.on('error', (error) => reject(this.failure(error)));
      request.end(payload ?? undefined);
    });
    if (answer.status < 200 || answer.status >= 300) throw refusal(answer);
    return answer;
  }

  /** `call`, answering the parsed JSON. */
  async json(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    route: string,
    body?: unknown,
  ): Promise<unknown> {
    const answer = await this.call(method, route, { body, accept: 'json' });
    try {
      return JSON.parse(answer.body.toString('utf8')) as unknown;
    } catch (error) {
      throw new OpenIrError('CONTROL_PLANE_ERROR', `${this.url} did not answer with JSON.`, {
        fix: 'Check that the URL names an OpenIR control plane.',
        cause: error,
      });
    }
  }

  /** `call`, answering the text the CLI prints (the API renders it for `Accept: text/plain`). */
  async text(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    route: string,
    body?: unknown,
  ): Promise<string> {
    return (await this.call(method, route, { body, accept: 'text' })).body.toString('utf8');
  }

  private tlsOptions(): tls.ConnectionOptions {
    const trust = this.trust;
    if (!trust) return {};
    return {
      // The certificate seen with the pin is the trust anchor; its name need not match the URL.
      ca: trust.certPem ?? undefined,
      allowPartialTrustChain: true,
      checkServerIdentity: (_host, cert) => {
        const actual = publicKeyPin(new X509Certificate(cert.raw).toString());
        return actual === trust.pin ? undefined : pinMismatch(this.url, trust.pin, actual);
      },
    };
  }

  /** First contact with --url and --pin: a handshake that sends nothing, to learn the certificate and check the pin. */
  private probe(): Promise<string> {
    const url = new URL(this.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port: Number(url.port || 443),
        ...(isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: false,
        timeout: REQUEST_TIMEOUT_MS,
      });
      socket.once('secureConnect', () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        if (!cert?.raw) {
          reject(new OpenIrError('CONTROL_PLANE_TLS_FAILED', `${this.url} presented no certificate.`));
          return;
        }
        const pem = new X509Certificate(cert.raw).toString();
        const actual = publicKeyPin(pem);
        if (this.trust && actual !== this.trust.pin) reject(pinMismatch(this.url, this.trust.pin, actual));
        else resolve(pem);
      });
      socket.once('timeout', () => socket.destroy(new Error('ETIMEDOUT')));
      socket.once('error', (error) => reject(this.failure(error)));
    });
  }

  private failure(error: Error): OpenIrError {
    if (isOpenIrError(error)) return error;
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    if (/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|TLS|SSL/i.test(code)) {
      // With a pin, the trusted certificate is the pinned one: any other is not this control plane.
      if (this.trust) {
        return new OpenIrError(
          'CONTROL_PLANE_TLS_PIN_MISMATCH',
          `The server at ${this.url} is not the control plane whose pin this client has (${code}); no token was sent.`,
          {
            fix: `Check the URL and the pin (\`serve\` prints its pin); locally, that the control plane of this data directory is the one listening. ${this.unreachableFix}`,
            cause: error,
          },
        );
      }
      return new OpenIrError(
        'CONTROL_PLANE_TLS_FAILED',
        `The control plane at ${this.url} has a certificate this machine does not trust (${code}).`,
        {
          fix: "Give its TLS public key pin with --pin (or OPENIR_CONTROL_PLANE_PIN): `serve` prints it as 'TLS public key pin'. Or trust its CA with NODE_EXTRA_CA_CERTS.",
          cause: error,
        },
      );
    }
    return new OpenIrError(
      'CONTROL_PLANE_UNREACHABLE',
      `The control plane at ${this.url} did not answer (${code}).`,
      { fix: this.unreachableFix, cause: error },
    );
  }
}

/**
 * The running server's record. A server that holds the data dir's lock but
 * has not written its record yet is starting (making its certificate,
 * migrating): wait for it, so `serve &` followed by a command works.
 */
async function localRecord(dataDir: string): Promise<LocalApiRecord | null> {
  const deadline = Date.now() + STARTING_WAIT_MS;
  for (;;) {
    const record = readLocalApiRecord(dataDir);
    if (record || serveLockHolder(dataDir) === null || Date.now() > deadline) return record;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function refusal(answer: ApiAnswer): OpenIrError {
  const body = errorBodyOf(parseJsonOrNull(answer.body.toString('utf8')));
  if (body) return OpenIrError.fromBody(body);
  return new OpenIrError('CONTROL_PLANE_ERROR', `The control plane answered HTTP ${answer.status}.`, {
    fix: 'Check that --url names an OpenIR control plane.',
  });
}

function pinMismatch(url: string, expected: string, actual: string): OpenIrError {
  return new OpenIrError(
    'CONTROL_PLANE_TLS_PIN_MISMATCH',
    `The server at ${url} presented a TLS key that does not match the pin (expected ${expected}, got ${actual}); no token was sent.`,
    {
      fix: "Check that the URL and pin are this control plane's (`serve` prints its pin), and that nothing intercepts the connection.",
    },
  );
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid:');
  }
  if (
    url.protocol !== 'https:' ||
    url.pathname.replace(/\/+$/, '') !== '' ||
    url.search ||
    url.username ||
    url.password
  ) {
    // Not echoed whole: a user:password@ part would end up in the terminal and logs.
    const shown =
      url.protocol === 'invalid:' ? 'the value given' : `'${url.protocol}//${url.host}${url.pathname}'`;
    throw new OpenIrError('INVALID_INPUT', `--url ${shown} is not https://host[:port].`, {
      fix: 'Give the control plane\'s address, e.g. --url https://cp.example.com:8443 (the "Endpoint" of its auth keys), and the token with --token-stdin.',
    });
  }
  return url.origin;
}

function readAdminToken(dataDir: string): string {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      throw new OpenIrError('UNAUTHORIZED', `Cannot read the instance-admin token ${file} (${code}).`, {
        fix: 'Run as the user the control plane runs as, or give a token with --token-stdin or OPENIR_CONTROL_PLANE_TOKEN.',
        cause: error,
      });
    }
  }
  throw new OpenIrError('UNAUTHORIZED', `There is no instance-admin token in ${dataDir}.`, {
    fix: 'The server writes it when it starts; restart it, or give a token with --token-stdin or OPENIR_CONTROL_PLANE_TOKEN.',
  });
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}
