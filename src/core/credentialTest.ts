import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CREDENTIAL_TYPES, type CredentialInput } from '../shared/credentials';
import {
  DATA_STORE_FIXES,
  dataStoreCodeFor,
  type CredentialTestReport,
  type CredentialTestStep,
  type TestCredentialInput,
} from '../shared/credentialTest';
import { causeOf } from './errorCause';
import { OpenIrError } from '../shared/errors';
import { Client } from 'pg';
import { openTcp, type Connector } from './connector';
import { blobError, openContainer } from './jobs/azureBlobClient';
import { describeMysqlError } from './jobs/mysqlSource';
import { describePostgresError } from './jobs/postgresSource';
import { fetchSftpHostKey, openSftpSession, sftpFailure } from './jobs/sftpClient';
import type { ResolvedCredential } from './jobs/credentialStore';
import type { LocalPathPolicy } from './jobs/pathPolicy';
import type { SourceLogger } from './logger';

export interface CredentialTesterLinks {
  credentials: {
    resolve(name: string, allowed: readonly (typeof CREDENTIAL_TYPES)[number][]): Promise<ResolvedCredential>;
    resolveInput(input: CredentialInput): Promise<ResolvedCredential>;
  };
  /** The node's local path policy, the same the jobs use. */
  paths: LocalPathPolicy;
  /** The node's proxy route, as the jobs take it (HTTPS and Azure Blob). */
  connector: () => Connector;
  log: SourceLogger;
  clock?: () => Date;
  /** The longest one step may take before DATA_STORE_TIMEOUT. */
  stepTimeoutMs?: number;
}

const DEFAULT_STEP_TIMEOUT_MS = 15_000;

class StepTimeout extends Error {
  readonly code = 'ETIMEDOUT';
}

/**
 * "Test connection" of a data store credential: the checks a job's first
 * connection makes, one step at a time, each timed, the first failure coded
 * with one of the DATA_STORE_* codes (the store's own code stays in the
 * step). Uses the jobs' own clients and error mappers, so a test that passes
 * means a job's connection would too.
 */
export class CredentialTester {
  private readonly stepTimeoutMs: number;

  constructor(private readonly links: CredentialTesterLinks) {
    this.stepTimeoutMs = links.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  }

  async test(input: TestCredentialInput): Promise<CredentialTestReport> {
    const unsaved = 'credential' in input;
    const credential = unsaved
      ? await this.links.credentials.resolveInput(input.credential)
      : await this.links.credentials.resolve(input.name, CREDENTIAL_TYPES);
    const clock = this.links.clock ?? (() => new Date());
    const startedAt = clock();
    const run = new StepRun(this.stepTimeoutMs);
    try {
      await this.checks(credential, run);
    } catch (error) {
      if (!(error instanceof StopTest)) throw error;
    } finally {
      await run.cleanup();
    }
    const failed = run.steps.find((step) => step.result === 'failed');
    const report: CredentialTestReport = {
      name: credential.name,
      type: credential.type,
      unsaved,
      ok: failed === undefined,
      startedAt: startedAt.toISOString(),
      ms: Math.round(performance.now() - run.started),
      steps: run.steps,
      ...(failed?.error
        ? {
            failure: {
              code: failed.error.code,
              message: failed.error.message,
              ...(failed.error.fix ? { fix: failed.error.fix } : {}),
            },
          }
        : {}),
    };
    // Names and codes only: the credential's fields may hold a secret typed in the form.
    this.links.log[report.ok ? 'info' : 'warn']('Data store credential tested.', {
      name: report.name,
      type: report.type,
      unsaved,
      ok: report.ok,
      ...(report.failure ? { code: report.failure.code } : {}),
    });
    return report;
  }

  private async checks(credential: ResolvedCredential, run: StepRun): Promise<void> {
    switch (credential.type) {
      case 'postgresql':
        return this.postgres(credential, run);
      case 'mysql':
        return this.mysql(credential, run);
      case 'http':
        return this.http(credential, run);
      case 'localFolder':
        return this.localFolder(credential, run);
      case 'azureBlob':
        return this.azureBlob(credential, run);
      case 'sftp':
        return this.sftp(credential, run);
    }
  }

  /** Plain TCP to host:port: tells "unreachable" from the failures after it. */
  private async tcpConnect(host: string, port: number): Promise<string> {
    // Longer than a step: the step's own timeout reports DATA_STORE_TIMEOUT first.
    const socket = await openTcp(host, port, this.stepTimeoutMs + 5000);
    const address = `${socket.remoteAddress ?? host}:${socket.remotePort ?? port}`;
    socket.destroy();
    return address;
  }

  private async postgres(
    credential: Extract<ResolvedCredential, { type: 'postgresql' }>,
    run: StepRun,
  ): Promise<void> {
    const map = (error: unknown) => describePostgresError(credential, error);
    await run.step('connect', `TCP connect to ${credential.host}:${credential.port}`, map, () =>
      this.tcpConnect(credential.host, credential.port),
    );
    const client = new Client({
      host: credential.host,
      port: credential.port,
      database: credential.database,
      user: credential.user,
      // Never the ambient PGPASSWORD or ~/.pgpass: only what the credential holds.
      password: credential.password ?? '',
      ssl: credential.ssl,
      application_name: 'OpenIR connection test',
      // Longer than a step: the step's own timeout reports DATA_STORE_TIMEOUT first.
      connectionTimeoutMillis: this.stepTimeoutMs + 5000,
      options: '-c default_transaction_read_only=on',
    });
    client.on('error', () => undefined);
    run.onCleanup(() => client.end().catch(() => undefined));
    if (credential.ssl) {
      // Its own step, before any password is sent: PostgreSQL's SSLRequest, then TLS as the driver does it.
      await run.step('tls', 'TLS (certificate verified)', map, () =>
        postgresTls(credential.host, credential.port, this.stepTimeoutMs),
      );
    } else run.skip('tls', 'TLS', 'off in the credential (--no-ssl)');
    await run.step('signIn', `Sign in as ${credential.user} to ${credential.database}`, map, async () => {
      await client.connect();
      const ssl = (client as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream
        .encrypted;
      return ssl ? 'over TLS' : 'without TLS';
    });
    await run.step('readOnly', 'Read-only session', map, async () => {
      const result = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
      const value = result.rows[0]?.transaction_read_only;
      if (value !== 'on') throw new Error(`the session is not read-only (transaction_read_only=${value})`);
      return 'transaction_read_only = on';
    });
    await run.step('select1', 'SELECT 1', map, async () => {
      await client.query('SELECT 1');
    });
    await run.step('version', 'Server version', map, async () => {
      const result = await client.query<{ server_version: string }>('SHOW server_version');
      return `PostgreSQL ${result.rows[0]?.server_version ?? '?'}`;
    });
  }

  private async mysql(
    credential: Extract<ResolvedCredential, { type: 'mysql' }>,
    run: StepRun,
  ): Promise<void> {
    const map = (error: unknown) => describeMysqlError(credential, error);
    await run.step('connect', `TCP connect to ${credential.host}:${credential.port}`, map, () =>
      this.tcpConnect(credential.host, credential.port),
    );
    const mysql = (await import('mysql2/promise')).default;
    let connection: Awaited<ReturnType<typeof mysql.createConnection>> | null = null;
    run.onCleanup(async () => connection?.end().catch(() => undefined));
    await run.step(
      'tls',
      credential.ssl ? 'TLS (certificate verified) and sign in' : 'Sign in (TLS off in the credential)',
      map,
      async () => {
        connection = await mysql.createConnection({
          host: credential.host,
          port: credential.port,
          user: credential.user,
          password: credential.password ?? '',
          database: credential.database,
          ...(credential.ssl ? { ssl: { rejectUnauthorized: true } } : {}),
          connectTimeout: this.stepTimeoutMs + 5000,
        });
        connection.on('error', () => undefined);
        return `${credential.ssl ? 'TLS' : 'no TLS'}, signed in as ${credential.user} to ${credential.database}`;
      },
    );
    const db = () => connection as NonNullable<typeof connection>;
    await run.step('select1', 'SELECT 1', map, async () => {
      await db().query('SELECT 1');
    });
    await run.step('version', 'Server version', map, async () => {
      const [rows] = await db().query('SELECT VERSION() AS v');
      return `MySQL/MariaDB ${String((rows as Array<{ v: string }>)[0]?.v ?? '?')}`;
    });
  }

  private async http(credential: Extract<ResolvedCredential, { type: 'http' }>, run: StepRun): Promise<void> {
    const url = new URL(credential.baseUrl);
    const secure = url.protocol === 'https:';
    const map = (error: unknown) => {
      // The connector names the control plane in its errors; here the endpoint is a data store.
      if (error instanceof OpenIrError && !error.code.startsWith('CONTROL_PLANE_')) return error;
      const inner = error instanceof OpenIrError ? (error.cause ?? error) : error;
      return new OpenIrError(
        'DATA_SOURCE_FAILED',
        `Cannot reach ${url.origin}: ${String((inner as Error)?.message ?? inner)}.`,
        { fix: 'Check that the data store is reachable from this node.', cause: inner },
      );
    };
    await run.step(
      'request',
      `HEAD ${url.origin}${url.pathname} with the credential's auth`,
      map,
      () =>
        new Promise<string>((resolve, reject) => {
          const headers: Record<string, string> = { ...credential.headers, host: url.host };
          if (credential.bearerToken) headers.authorization = `Bearer ${credential.bearerToken}`;
          const req = http.request(
            {
              host: url.hostname.replace(/^\[|\]$/g, ''),
              port: url.port || (secure ? 443 : 80),
              path: `${url.pathname}${url.search}`,
              method: 'HEAD',
              headers,
              // HTTPS goes the way the jobs' does: through the node's proxy when one applies.
              ...(secure
                ? { createConnection: this.links.connector().createConnection(url.origin, {}) }
                : {}),
            },
            (res) => {
              res.resume();
              const status = res.statusCode ?? 0;
              if (status < 400) {
                resolve(`HTTP ${status}`);
                return;
              }
              const refused = status === 401 || status === 403;
              reject(
                new OpenIrError(
                  refused
                    ? 'DATA_STORE_AUTH_FAILED'
                    : status === 404
                      ? 'DATA_STORE_NOT_FOUND'
                      : 'DATA_SOURCE_FAILED',
                  `HEAD ${url.origin}${url.pathname} answered HTTP ${status}${refused ? ': the credential was refused' : ''}.`,
                  {
                    fix: refused
                      ? `Set the token or headers again with \`openir credential set ${credential.name} --type http … --secret-stdin\`.`
                      : status === 404
                        ? 'Check the base URL of the credential.'
                        : 'The endpoint answered with an error; check the base URL and the server.',
                  },
                ),
              );
            },
          );
          req.on('error', reject);
          req.end();
        }),
    );
  }

  private async localFolder(
    credential: Extract<ResolvedCredential, { type: 'localFolder' }>,
    run: StepRun,
  ): Promise<void> {
    const map = (error: unknown) =>
      error instanceof OpenIrError
        ? error
        : new OpenIrError(
            'DATA_SOURCE_FAILED',
            `${credential.root}: ${String((error as Error)?.message ?? error)}.`,
            {
              cause: error,
            },
          );
    let real = '';
    await run.step('exists', `Folder ${credential.root} exists`, map, async () => {
      try {
        real = await fs.realpath(credential.root);
      } catch (error) {
        throw new OpenIrError(
          'DATA_STORE_NOT_FOUND',
          `The folder ${credential.root} does not exist on this node.`,
          {
            fix: 'Create the folder, or set the credential again with the right --root.',
            cause: error,
          },
        );
      }
      if (!(await fs.stat(real)).isDirectory()) {
        throw new OpenIrError('DATA_STORE_NOT_FOUND', `${credential.root} is not a folder.`, {
          fix: 'Set the credential again with a folder as --root.',
        });
      }
      return real === credential.root ? undefined : `real path ${real}`;
    });
    await run.step('allowed', 'Allowed by local folder path validation', map, async () => {
      if (!(await this.links.paths.isAllowed(real))) {
        throw new OpenIrError(
          'LOCAL_PATH_NOT_ALLOWED',
          `Local folder path validation refuses ${real}: it is not under a folder allowed on this node.`,
          { fix: `If jobs may use this folder, allow it: \`openir config allow-folder ${real}\`.` },
        );
      }
    });
    await run.step('readable', 'Readable (list the folder)', map, async () => {
      const entries = await fs.readdir(real);
      return `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`;
    });
    await run.step('writable', 'Writable (create and delete a temporary file)', map, async () => {
      const probe = path.join(real, `.openir-test-${randomBytes(6).toString('hex')}`);
      // O_EXCL: never through an existing file or link of that name.
      const handle = await fs.open(probe, 'wx', 0o600);
      await handle.close();
      await fs.unlink(probe);
    });
  }

  private async azureBlob(
    credential: Extract<ResolvedCredential, { type: 'azureBlob' }>,
    run: StepRun,
  ): Promise<void> {
    const map = (error: unknown) =>
      blobError(error, credential, 'reach the container', 'source') as OpenIrError;
    await run.step(
      'container',
      `Container ${credential.container} reachable with the credential (through the node's proxy)`,
      map,
      async () => {
        const { container, close } = openContainer(credential, this.links.connector());
        try {
          if (credential.auth === 'key') {
            const properties = await container.getProperties();
            return `last modified ${properties.lastModified?.toISOString() ?? '?'}`;
          }
          // A SAS may allow only some operations: listing is the read-side check jobs need.
          try {
            await container.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
            return 'listing permitted';
          } catch (error) {
            const mapped = map(error);
            if (mapped.code === 'BLOB_PERMISSION_DENIED') {
              return 'listing is not permitted: expected for a write-only SAS (jobs may still write to it)';
            }
            throw mapped;
          }
        } finally {
          close();
        }
      },
    );
  }

  private async sftp(credential: Extract<ResolvedCredential, { type: 'sftp' }>, run: StepRun): Promise<void> {
    const mapped = (error: unknown) => sftpFailure(null, credential, 'connect', error, 'source');
    let seen = '';
    await run.step('connect', `SSH connect to ${credential.host}:${credential.port}`, mapped, async () => {
      seen = await fetchSftpHostKey(credential.host, credential.port, this.stepTimeoutMs);
      return `host key ${seen}`;
    });
    await run.step('hostKey', 'Host key matches the pinned one', mapped, async () => {
      if (seen !== credential.hostKey) {
        throw new OpenIrError(
          'SFTP_HOST_KEY_MISMATCH',
          `The SFTP server ${credential.host}:${credential.port} shows the host key ${seen}, not the pinned ${credential.hostKey}.`,
          {
            fix: `If the key was changed on purpose, check the new fingerprint with the server's administrator, then \`openir credential set ${credential.name} --type sftp … --host-key <SHA256:…>\`.`,
          },
        );
      }
    });
    let session: Awaited<ReturnType<typeof openSftpSession>> | null = null;
    run.onCleanup(async () => session?.close());
    await run.step('signIn', `Sign in as ${credential.user} (${credential.auth})`, mapped, async () => {
      session = await openSftpSession(credential);
    });
    await run.step('root', `Stat the root ${credential.root}`, mapped, async () => {
      const sftp = (session as unknown as { sftp: import('ssh2').SFTPWrapper }).sftp;
      const stats = await new Promise<import('ssh2').Stats>((resolve, reject) =>
        sftp.stat(credential.root, (error, result) => (error ? reject(error) : resolve(result))),
      ).catch((error: unknown) => {
        throw sftpFailure(session, credential, `stat the root ${credential.root}`, error, 'source');
      });
      if (!stats.isDirectory()) {
        throw new OpenIrError(
          'SFTP_NOT_FOUND',
          `The root ${credential.root} is not a folder on the server.`,
          {
            fix: 'Set the credential again with a folder as --root.',
          },
        );
      }
    });
  }
}

class StopTest extends Error {}

/** The steps of one test: each timed, the first failure ends the test. */
class StepRun {
  readonly steps: CredentialTestStep[] = [];
  readonly started = performance.now();
  private readonly cleanups: Array<() => Promise<unknown>> = [];

  constructor(private readonly timeoutMs: number) {}

  /** A check that does not apply to this credential (e.g. TLS when the credential turns it off). */
  skip(id: string, label: string, detail: string): void {
    this.steps.push({ id, label, result: 'skipped', ms: 0, detail });
  }

  onCleanup(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  async cleanup(): Promise<void> {
    // A server that never answered must not hold the report: each cleanup gets two seconds.
    for (const cleanup of this.cleanups.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        cleanup().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
      ]);
      clearTimeout(timer);
    }
  }

  async step(
    id: string,
    label: string,
    map: (error: unknown) => unknown,
    check: () => Promise<string | void>,
  ): Promise<void> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const detail = await Promise.race([
        check(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new StepTimeout(`no answer in ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        }),
      ]);
      this.steps.push({
        id,
        label,
        result: 'passed',
        ms: Math.round(performance.now() - start),
        ...(detail ? { detail } : {}),
      });
    } catch (error) {
      this.steps.push({
        id,
        label,
        result: 'failed',
        ms: Math.round(performance.now() - start),
        error: toStepError(error instanceof StepTimeout ? error : map(error), error),
      });
      throw new StopTest();
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A step's failure as its generic code (where one fits), the store's message, and the store's code kept. */
function toStepError(mapped: unknown, raw: unknown): NonNullable<CredentialTestStep['error']> {
  if (mapped instanceof StepTimeout) {
    return {
      code: 'DATA_STORE_TIMEOUT',
      message: `The data store did not answer: ${mapped.message}.`,
      fix: DATA_STORE_FIXES.DATA_STORE_TIMEOUT,
    };
  }
  const error =
    mapped instanceof OpenIrError
      ? mapped
      : new OpenIrError('DATA_SOURCE_FAILED', String((mapped as Error)?.message ?? mapped), { cause: raw });
  const cause = causeOf(raw) || causeOf(error.cause);
  const generic = dataStoreCodeFor(error.code, cause);
  const storeCode = [error.code, cause].filter(Boolean).join(' ');
  return {
    code: generic ?? error.code,
    message: error.message,
    fix: error.fix ?? (generic ? DATA_STORE_FIXES[generic] : 'See the message.'),
    ...(storeCode && storeCode !== (generic ?? error.code) ? { storeCode } : {}),
  };
}

/**
 * PostgreSQL's SSLRequest on a new connection, then a TLS handshake that
 * verifies the certificate as the driver does (`ssl: true`); nothing else is
 * sent. Answers the protocol and cipher.
 */
function postgresTls(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.setTimeout(timeoutMs, () => fail(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      // Length 8, then the SSLRequest code 80877103.
      socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    });
    socket.once('data', (answer: Buffer) => {
      socket.removeListener('error', fail);
      if (answer[0] !== 0x53) {
        fail(new Error('The server does not support SSL connections'));
        return;
      }
      socket.setTimeout(0);
      const secure = tls.connect({
        socket,
        ...(net.isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: true,
      });
      secure.once('secureConnect', () => {
        const detail = `${secure.getProtocol() ?? 'TLS'}, ${secure.getCipher().name}`;
        secure.destroy();
        resolve(detail);
      });
      secure.once('error', (error) => {
        secure.destroy();
        reject(error);
      });
    });
  });
}
