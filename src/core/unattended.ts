import fs from 'node:fs/promises';
import { parseAuthKey, type AuthKey } from '../shared/authKey';
import type { HostApi } from '../shared/contract';
import { NodeNameSchema } from '../shared/controlPlaneApi';
import { OpenIrError, type ErrorCode } from '../shared/errors';
import { ProxyInputSchema, type ProxyInput } from '../shared/proxy';
import { DEFAULT_REMOTE_ACCESS_PORT, RemoteAccessPortSchema } from '../shared/remoteAccess';
import { readAuthKeyFile } from './authKeyFile';
import type { SourceLogger } from './logger';
import { defaultNodeName } from './session/registrationService';

/**
 * Unattended start: `openir serve` registering itself on its first start from
 * the environment (a service install, a container), the way the reference
 * product's container mode reads AUTH_KEY and NODE_NAME. The variables below
 * are read once, then applied through the host's own operations (setProxy,
 * importCertificate, register), so an unattended start does exactly what
 * the UI and the CLI would.
 */
export const UNATTENDED_VARIABLES = [
  'OPENIR_AUTH_KEY',
  'OPENIR_AUTH_KEY_FILE',
  'OPENIR_NODE_NAME',
  'OPENIR_REPLACE_NODE',
  'OPENIR_REMOTE_ACCESS',
  'OPENIR_REMOTE_ACCESS_PORT',
  'OPENIR_REMOTE_ACCESS_CERT_FILE',
  'OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE',
  'OPENIR_PROXY',
  'OPENIR_PROXY_ADDRESS',
  'OPENIR_PROXY_PORT',
  'OPENIR_PROXY_USER',
  'OPENIR_PROXY_PASSWORD_FILE',
] as const;
type Variable = (typeof UNATTENDED_VARIABLES)[number];

/** The variables as found; the key itself only in memory (see takeUnattendedEnv). */
export type UnattendedEnv = Partial<Record<Variable, string>>;

/**
 * Reads the unattended variables and deletes OPENIR_AUTH_KEY from `env`
 * (process.env in `openir serve`), so nothing started later (a child process,
 * a diagnostics dump of the environment) sees the key. Null when neither key
 * variable is set: a plain start.
 */
export function takeUnattendedEnv(env: NodeJS.ProcessEnv): UnattendedEnv | null {
  const found: UnattendedEnv = {};
  for (const name of UNATTENDED_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '') found[name] = value;
  }
  delete env.OPENIR_AUTH_KEY;
  return found.OPENIR_AUTH_KEY !== undefined || found.OPENIR_AUTH_KEY_FILE !== undefined ? found : null;
}

/** Remote access as the environment asks for it; a TLS certificate is imported into the store first. */
export type UnattendedRemoteAccess =
  | { mode: 'disabled' }
  | { mode: 'plain'; port: number }
  | { mode: 'tls'; port: number; certFile: string; certificate: Buffer; password: string | undefined };

/** What an unattended first start does, every file read and every value checked. */
export interface UnattendedPlan {
  authKey: string;
  key: AuthKey;
  /** Where the key came from, for messages (never the key). */
  keySource: string;
  nodeName: string | undefined;
  replaceNode: boolean;
  remoteAccess: UnattendedRemoteAccess | undefined;
  proxy: ProxyInput | undefined;
}

/** Every problem at once (`serve --check` lists them all); a start fails on the first. */
export async function resolvePlan(
  env: UnattendedEnv,
): Promise<{ plan: UnattendedPlan | null; problems: OpenIrError[] }> {
  const problems: OpenIrError[] = [];
  const attempt = async <T>(work: () => Promise<T> | T): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      problems.push(
        error instanceof OpenIrError
          ? error
          : new OpenIrError('INVALID_INPUT', String((error as Error).message ?? error)),
      );
      return undefined;
    }
  };

  const keyRead = await attempt(async () => {
    if (env.OPENIR_AUTH_KEY !== undefined && env.OPENIR_AUTH_KEY_FILE !== undefined) {
      throw invalid('Both OPENIR_AUTH_KEY and OPENIR_AUTH_KEY_FILE are set.', 'Set only one of them.');
    }
    if (env.OPENIR_AUTH_KEY_FILE !== undefined) {
      return {
        ...(await readAuthKeyFile(env.OPENIR_AUTH_KEY_FILE)),
        keySource: `OPENIR_AUTH_KEY_FILE (${env.OPENIR_AUTH_KEY_FILE})`,
      };
    }
    const authKey = (env.OPENIR_AUTH_KEY ?? '').trim();
    try {
      return { authKey, key: parseAuthKey(authKey), keySource: 'OPENIR_AUTH_KEY' };
    } catch (error) {
      if (!(error instanceof OpenIrError)) throw error;
      throw new OpenIrError(error.code, `OPENIR_AUTH_KEY: ${error.message}`, {
        ...(error.fix ? { fix: error.fix } : {}),
      });
    }
  });

  const nodeName = await attempt(() => {
    if (env.OPENIR_NODE_NAME === undefined) return undefined;
    const parsed = NodeNameSchema.safeParse(env.OPENIR_NODE_NAME);
    if (parsed.success) return parsed.data;
    throw invalid(
      `OPENIR_NODE_NAME '${env.OPENIR_NODE_NAME}' is not a valid node name: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'Use 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit.',
    );
  });

  const replaceNode = await attempt(() => flag('OPENIR_REPLACE_NODE', env.OPENIR_REPLACE_NODE));
  const remoteAccess = await attempt(() => remoteAccessFrom(env));
  const proxy = await attempt(() => proxyFrom(env));

  if (problems.length > 0 || !keyRead) return { plan: null, problems };
  return {
    plan: {
      authKey: keyRead.authKey,
      key: keyRead.key,
      keySource: keyRead.keySource,
      nodeName,
      replaceNode: replaceNode ?? false,
      remoteAccess,
      proxy,
    },
    problems,
  };
}

/** The error a failed unattended start ends with: every problem, one line. */
export function planFailure(problems: readonly OpenIrError[]): OpenIrError {
  const [first] = problems;
  if (!first) return new OpenIrError('INTERNAL', 'The unattended start could not be planned.');
  if (problems.length === 1) return first;
  return new OpenIrError(
    first.code,
    `The unattended start settings have ${problems.length} problems: ${problems.map((p) => p.message).join(' ')}`,
    { fix: problems.map((p) => p.fix).filter(Boolean)[0] ?? 'See `openir serve --check`.' },
  );
}

function invalid(message: string, fix: string): OpenIrError {
  return new OpenIrError('INVALID_INPUT', message, { fix });
}

function flag(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw invalid(`${name} must be 1 or 0, not '${value}'.`, `Set ${name}=1 to turn it on, or unset it.`);
}

function portFrom(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = RemoteAccessPortSchema.safeParse(/^\d+$/.test(value.trim()) ? Number(value) : Number.NaN);
  if (parsed.success) return parsed.data;
  throw invalid(`${name} must be a port from 1 to 65535, not '${value}'.`, `Fix ${name}.`);
}

/** A secret from a file: everything less one trailing newline, as `echo` writes it. */
async function secretFile(name: string, file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw invalid(
      `${name} (${file}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
      `Give the path of a file readable by the user OpenIR runs as.`,
    );
  }
}

async function remoteAccessFrom(env: UnattendedEnv): Promise<UnattendedRemoteAccess | undefined> {
  const mode = env.OPENIR_REMOTE_ACCESS?.trim().toLowerCase();
  const extras = (
    [
      'OPENIR_REMOTE_ACCESS_PORT',
      'OPENIR_REMOTE_ACCESS_CERT_FILE',
      'OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE',
    ] as const
  ).filter((name) => env[name] !== undefined);
  if (mode === undefined) {
    if (extras.length > 0) {
      throw invalid(
        `${extras.join(', ')} ${extras.length === 1 ? 'is' : 'are'} set without OPENIR_REMOTE_ACCESS.`,
        'Set OPENIR_REMOTE_ACCESS=plain or tls (or disabled), or unset them.',
      );
    }
    return undefined;
  }
  if (mode === 'disabled') {
    if (extras.length > 0) {
      throw invalid(
        `OPENIR_REMOTE_ACCESS=disabled takes no ${extras.join(', ')}.`,
        'Unset them, or set OPENIR_REMOTE_ACCESS=plain or tls.',
      );
    }
    return { mode: 'disabled' };
  }
  const port = portFrom(
    'OPENIR_REMOTE_ACCESS_PORT',
    env.OPENIR_REMOTE_ACCESS_PORT,
    DEFAULT_REMOTE_ACCESS_PORT,
  );
  if (mode === 'plain') {
    if (env.OPENIR_REMOTE_ACCESS_CERT_FILE !== undefined) {
      throw invalid(
        'OPENIR_REMOTE_ACCESS_CERT_FILE is set with OPENIR_REMOTE_ACCESS=plain.',
        'Use OPENIR_REMOTE_ACCESS=tls to serve that certificate.',
      );
    }
    return { mode: 'plain', port };
  }
  if (mode !== 'tls') {
    throw invalid(
      `OPENIR_REMOTE_ACCESS must be disabled, plain or tls, not '${env.OPENIR_REMOTE_ACCESS}'.`,
      'Use tls with OPENIR_REMOTE_ACCESS_CERT_FILE (a PFX or a PEM with its key), plain (not recommended) or disabled.',
    );
  }
  const certFile = env.OPENIR_REMOTE_ACCESS_CERT_FILE;
  if (certFile === undefined) {
    throw invalid(
      'OPENIR_REMOTE_ACCESS=tls needs OPENIR_REMOTE_ACCESS_CERT_FILE.',
      'Point it at a PFX/PKCS#12 file (its password in OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE) or a PEM file holding the certificate and its key.',
    );
  }
  let certificate: Buffer;
  try {
    certificate = await fs.readFile(certFile);
  } catch (error) {
    throw invalid(
      `OPENIR_REMOTE_ACCESS_CERT_FILE (${certFile}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
      'Give the path of a certificate file readable by the user OpenIR runs as.',
    );
  }
  const password =
    env.OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE === undefined
      ? undefined
      : await secretFile(
          'OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE',
          env.OPENIR_REMOTE_ACCESS_CERT_PASSWORD_FILE,
        );
  return { mode: 'tls', port, certFile, certificate, password };
}

async function proxyFrom(env: UnattendedEnv): Promise<ProxyInput | undefined> {
  const mode = env.OPENIR_PROXY?.trim().toLowerCase();
  const extras = (
    ['OPENIR_PROXY_ADDRESS', 'OPENIR_PROXY_PORT', 'OPENIR_PROXY_USER', 'OPENIR_PROXY_PASSWORD_FILE'] as const
  ).filter((name) => env[name] !== undefined);
  if (mode === undefined) {
    if (extras.length > 0) {
      throw invalid(
        `${extras.join(', ')} ${extras.length === 1 ? 'is' : 'are'} set without OPENIR_PROXY.`,
        'Set OPENIR_PROXY=custom (or none, system), or unset them.',
      );
    }
    return undefined;
  }
  if (mode !== 'none' && mode !== 'system' && mode !== 'custom') {
    throw invalid(
      `OPENIR_PROXY must be none, system or custom, not '${env.OPENIR_PROXY}'.`,
      'none: connect directly; system: HTTPS_PROXY/NO_PROXY of the service; custom: OPENIR_PROXY_ADDRESS and OPENIR_PROXY_PORT.',
    );
  }
  if (mode !== 'custom') {
    if (extras.length > 0) {
      throw invalid(
        `OPENIR_PROXY=${mode} takes no ${extras.join(', ')}.`,
        'Unset them, or use OPENIR_PROXY=custom.',
      );
    }
    return { mode };
  }
  const password =
    env.OPENIR_PROXY_PASSWORD_FILE === undefined
      ? undefined
      : await secretFile('OPENIR_PROXY_PASSWORD_FILE', env.OPENIR_PROXY_PASSWORD_FILE);
  if (env.OPENIR_PROXY_ADDRESS === undefined || env.OPENIR_PROXY_PORT === undefined) {
    throw invalid(
      'OPENIR_PROXY=custom needs OPENIR_PROXY_ADDRESS and OPENIR_PROXY_PORT.',
      'Set both: the proxy host name or IP address (without http://), and its port.',
    );
  }
  const parsed = ProxyInputSchema.safeParse({
    mode,
    address: env.OPENIR_PROXY_ADDRESS,
    port: portFrom('OPENIR_PROXY_PORT', env.OPENIR_PROXY_PORT, 0),
    ...(env.OPENIR_PROXY_USER !== undefined ? { user: env.OPENIR_PROXY_USER } : {}),
    ...(password !== undefined ? { password } : {}),
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const variable =
    issue?.path[0] === 'port'
      ? 'OPENIR_PROXY_PORT'
      : issue?.path[0] === 'user'
        ? 'OPENIR_PROXY_USER'
        : 'OPENIR_PROXY_ADDRESS';
  throw invalid(
    `${variable}: ${issue?.message ?? 'not valid'}`,
    `Fix ${variable} (OPENIR_PROXY=custom needs OPENIR_PROXY_ADDRESS and OPENIR_PROXY_PORT).`,
  );
}

/** Failures a later attempt may not meet: the control plane (or the proxy) restarting, a network blip. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set([
  'CONTROL_PLANE_UNREACHABLE',
  'PROXY_UNREACHABLE',
  'TIMEOUT',
  'CONTROL_PLANE_ERROR',
]);

export interface UnattendedLinks {
  api: Pick<HostApi, 'getStatus' | 'register' | 'setProxy' | 'importCertificate'>;
  log: SourceLogger;
  /** This machine's FQDN: the node name, unless OPENIR_NODE_NAME, is its first label (as `register` does). */
  fqdn: string;
  /** Adds a secret to the log redactor before anything can log it. */
  redact: (secret: string) => void;
  /** Registration attempts while the control plane is unreachable (bounded: never a loop). */
  attempts: number;
  /** The first wait between attempts; it doubles each time, up to a minute. */
  retryMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export type UnattendedOutcome =
  | { done: 'already-registered'; nodeName: string; nodeId: string; irName: string }
  | { done: 'registered'; nodeName: string; nodeId: string; irName: string; attempts: number };

/**
 * Applies an unattended start to a running host: nothing when it is already
 * registered (one log line says so), else proxy, certificate, then register
 * with remote access. A failure is thrown (the caller exits non-zero); only
 * an unreachable control plane is retried, a bounded number of times.
 */
export class UnattendedStart {
  constructor(private readonly links: UnattendedLinks) {}

  async run(env: UnattendedEnv): Promise<UnattendedOutcome> {
    const { api, log } = this.links;
    const status = await api.getStatus({});
    if (status.registered && status.node && status.ir) {
      log.info(
        `Already registered as "${status.node.name}" (node id ${status.node.id}) in "${status.ir.name}"; the unattended registration settings are not used.`,
      );
      return {
        done: 'already-registered',
        nodeName: status.node.name,
        nodeId: status.node.id,
        irName: status.ir.name,
      };
    }
    if (env.OPENIR_AUTH_KEY !== undefined) this.links.redact(env.OPENIR_AUTH_KEY.trim());
    const { plan, problems } = await resolvePlan(env);
    if (!plan) throw this.failed(planFailure(problems));
    this.links.redact(plan.key.secret);
    if (plan.remoteAccess?.mode === 'tls' && plan.remoteAccess.password)
      this.links.redact(plan.remoteAccess.password);
    if (plan.proxy?.mode === 'custom' && plan.proxy.password) this.links.redact(plan.proxy.password);
    log.info('Unattended start: registering this node from the environment.', {
      irName: plan.key.irName,
      endpoint: plan.key.endpoint,
      key: plan.keySource,
      ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
      ...(plan.replaceNode ? { replaceNode: true } : {}),
    });
    try {
      if (plan.proxy) await api.setProxy(plan.proxy);
      const remoteAccess = await this.remoteAccess(plan.remoteAccess);
      const registered = await this.register(plan, remoteAccess);
      return { done: 'registered', ...registered };
    } catch (error) {
      throw this.failed(this.explain(error, plan));
    }
  }

  private async remoteAccess(
    wanted: UnattendedRemoteAccess | undefined,
  ): Promise<OperationRemoteAccess | undefined> {
    if (!wanted || wanted.mode !== 'tls') return wanted;
    const stored = await this.links.api.importCertificate({
      content: wanted.certificate.toString('base64'),
      ...(wanted.password !== undefined ? { password: wanted.password } : {}),
    });
    this.links.log.info(`Imported the remote-access certificate from ${wanted.certFile}.`, {
      thumbprint: stored.thumbprint,
      subject: stored.subject,
    });
    return { mode: 'tls', port: wanted.port, thumbprint: stored.thumbprint };
  }

  private async register(
    plan: UnattendedPlan,
    remoteAccess: OperationRemoteAccess | undefined,
  ): Promise<{ nodeName: string; nodeId: string; irName: string; attempts: number }> {
    const sleep = this.links.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    const attempts = Math.max(1, this.links.attempts);
    for (let attempt = 1; ; attempt += 1) {
      try {
        const status = await this.links.api.register({
          authKey: plan.authKey,
          ...(plan.nodeName ? { nodeName: plan.nodeName } : {}),
          ...(remoteAccess ? { remoteAccess } : {}),
          ...(plan.replaceNode ? { replaceNode: true } : {}),
        });
        return {
          nodeName: status.node?.name ?? '',
          nodeId: status.node?.id ?? '',
          irName: status.ir?.name ?? plan.key.irName,
          attempts: attempt,
        };
      } catch (error) {
        const code = error instanceof OpenIrError ? error.code : null;
        if (!code || !TRANSIENT.has(code) || attempt >= attempts) throw error;
        const waitMs = Math.min(60_000, this.links.retryMs * 2 ** (attempt - 1));
        this.links.log.warn(
          `Registration attempt ${attempt} of ${attempts} failed (${code}); trying again in ${Math.round(waitMs / 1000)} s.`,
        );
        await sleep(waitMs);
      }
    }
  }

  /** The unattended wording of what a person at a terminal would read differently. */
  private explain(error: unknown, plan: UnattendedPlan): OpenIrError {
    if (!(error instanceof OpenIrError)) {
      return new OpenIrError('INTERNAL', 'The unattended registration failed unexpectedly.', {
        cause: error,
      });
    }
    if (error.code === 'NODE_NAME_TAKEN') {
      return new OpenIrError(
        'NODE_NAME_TAKEN',
        `${error.message.replace(/\.$/, '')}, and this machine has no registration (a new machine, or its data directory was lost).`,
        {
          fix: `If this machine is that node with its data volume lost, start it once with OPENIR_REPLACE_NODE=1 to replace it on the control plane; otherwise set another OPENIR_NODE_NAME. Or remove the old node there: openir-control-plane ir remove-node '${plan.key.irName}' ${plan.nodeName ?? defaultNodeName(this.links.fqdn)}.`,
          cause: error,
        },
      );
    }
    if (TRANSIENT.has(error.code)) {
      return new OpenIrError(
        error.code,
        `${error.message.replace(/\.$/, '')} (gave up after ${Math.max(1, this.links.attempts)} attempts).`,
        {
          fix: `${error.fix ? `${error.fix} ` : ''}The service exits; its restart policy starts it again later.`,
          cause: error,
        },
      );
    }
    return error;
  }

  private failed(error: OpenIrError): OpenIrError {
    this.links.log.error(`Unattended registration failed: ${error.message}`, {
      code: error.code,
      ...(error.fix ? { fix: error.fix } : {}),
    });
    return error;
  }
}

type OperationRemoteAccess = NonNullable<Parameters<HostApi['register']>[0]['remoteAccess']>;
