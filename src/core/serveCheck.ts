import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { OpenIrError, toErrorBody, type ErrorCode } from '../shared/errors';
import type { ProxyInput, ProxySettings } from '../shared/proxy';
import { ConfigStore } from './config';
import { Connector } from './connector';
import { dataPaths, machineFqdn } from './paths';
import { probeControlPlane } from './pinnedTls';
import { environmentProxyResolver, resolveRoute } from './proxyRoute';
import { defaultNodeName } from './session/registrationService';
import { resolvePlan, type UnattendedEnv, type UnattendedPlan } from './unattended';
import { FileVault, OsKeyringVault } from './vault';

/** One line of `openir serve --check`. */
export interface ServeCheckItem {
  check: string;
  ok: boolean;
  detail: string;
  code?: ErrorCode;
  fix?: string;
}

export interface ServeCheckReport {
  ok: boolean;
  dataDir: string;
  checks: ServeCheckItem[];
  /** What `openir serve` would do with this configuration and environment, in one sentence. */
  wouldDo: string | null;
}

export interface ServeCheckOptions {
  home: string;
  /** The unattended variables (null: none set). */
  unattended: UnattendedEnv | null;
  /** The rest of the environment (OPENIR_VAULT, HTTPS_PROXY, OPENIR_FQDN). */
  env: NodeJS.ProcessEnv;
  /** The web UI port `serve` would use, or null with --no-web. */
  webPort: number | null;
}

/**
 * `openir serve --check`, like the GitHub runner's `run.sh --check`: checks
 * the data directory, the secret store, the unattended variables and (before
 * registration) that the key's control plane answers with the pinned TLS key,
 * and says what a start would do. It changes nothing: no registration, no
 * vault choice recorded, no setting saved.
 */
export async function checkServe(options: ServeCheckOptions): Promise<ServeCheckReport> {
  const paths = dataPaths(options.home);
  const checks: ServeCheckItem[] = [];
  const pass = (check: string, detail: string) => checks.push({ check, ok: true, detail });
  const failWith = (check: string, error: unknown) => {
    const body = toErrorBody(error);
    checks.push({
      check,
      ok: false,
      detail: body.message,
      code: body.code,
      ...(body.fix ? { fix: body.fix } : {}),
    });
  };

  try {
    await fs.mkdir(paths.home, { recursive: true, mode: 0o700 });
    const probe = path.join(paths.home, `.check-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(probe, 'ok', { mode: 0o600 });
    await fs.rm(probe, { force: true });
    pass('data directory', `${paths.home} is writable.`);
  } catch (error) {
    failWith(
      'data directory',
      new OpenIrError(
        'STORAGE_WRITE_FAILED',
        `The data directory ${paths.home} is not writable: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`,
        {
          fix: 'Set OPENIR_HOME to a directory the service user owns (a service install uses /var/lib/openir).',
        },
      ),
    );
  }

  let config = null;
  try {
    config = await new ConfigStore(paths.config).load();
    pass(
      'configuration',
      `${paths.config} ${config.registration ? 'holds a registration' : 'holds no registration yet'}.`,
    );
  } catch (error) {
    failWith('configuration', error);
  }

  if (config) {
    try {
      pass(
        'secret store',
        await vaultCheck(options.home, paths.vaultDir, config.vaultBackend, options.env.OPENIR_VAULT),
      );
    } catch (error) {
      failWith('secret store', error);
    }
  }

  const listen = `the local API ${process.platform === 'win32' ? 'on a new random named pipe' : paths.socket}${options.webPort === null ? '' : ` and the web UI on 127.0.0.1:${options.webPort}`}`;
  const registration = config?.registration ?? null;
  let wouldDo: string | null = null;
  if (registration) {
    pass(
      'registration',
      `Registered as "${registration.nodeName}" (node id ${registration.nodeId}) in "${registration.irName}" at ${registration.endpoint}.`,
    );
    if (options.unattended) {
      pass(
        'environment',
        'OPENIR_AUTH_KEY / OPENIR_AUTH_KEY_FILE are set but not used: the node is registered.',
      );
    }
    wouldDo = `already registered as "${registration.nodeName}" (node id ${registration.nodeId}) in "${registration.irName}"; would start the host on ${listen}`;
  } else if (!options.unattended) {
    pass('registration', 'Not registered, and neither OPENIR_AUTH_KEY nor OPENIR_AUTH_KEY_FILE is set.');
    wouldDo = `would start the host unregistered on ${listen}; register with \`openir register --key-file <file>\``;
  } else {
    const { plan, problems } = await resolvePlan(options.unattended);
    for (const problem of problems) failWith('environment', problem);
    if (plan) {
      pass('environment', `The unattended settings are valid (key from ${plan.keySource}).`);
      try {
        await probeControlPlane(
          plan.key.endpoint,
          plan.key.pin,
          connectorFor(plan.proxy, config?.proxy, options.env),
        );
        pass('control plane', `${plan.key.endpoint} answers, and its TLS key matches the key's pin.`);
      } catch (error) {
        failWith('control plane', error);
      }
      wouldDo = describePlan(plan, machineFqdn(options.env), listen);
    }
  }
  return { ok: checks.every((c) => c.ok), dataDir: paths.home, checks, wouldDo };
}

function describePlan(plan: UnattendedPlan, fqdn: string, listen: string): string {
  const name = plan.nodeName ?? defaultNodeName(fqdn);
  const parts = [
    `would register as "${name}" with an IR key for "${plan.key.irName}" at ${plan.key.endpoint}${plan.replaceNode ? `, replacing a node named "${name}" there if it has one` : ''}`,
  ];
  const ra = plan.remoteAccess;
  if (ra) {
    parts.push(
      ra.mode === 'disabled'
        ? 'remote access disabled'
        : ra.mode === 'plain'
          ? `remote access without TLS on port ${ra.port}`
          : `remote access with TLS on port ${ra.port} (certificate from ${ra.certFile})`,
    );
  }
  if (plan.proxy) {
    parts.push(
      plan.proxy.mode === 'custom'
        ? `proxy ${plan.proxy.address}:${plan.proxy.port}`
        : plan.proxy.mode === 'system'
          ? 'the system proxy'
          : 'no proxy',
    );
  }
  return `${parts.join(', ')}; then start the host on ${listen}`;
}

/** The route a registration would take: the proxy from the environment, else the saved one (without its password). */
function connectorFor(
  wanted: ProxyInput | undefined,
  saved: ProxySettings | undefined,
  env: NodeJS.ProcessEnv,
): Connector {
  const settings: ProxySettings = wanted
    ? wanted.mode === 'custom'
      ? {
          mode: 'custom',
          address: wanted.address,
          port: wanted.port,
          ...(wanted.user !== undefined ? { user: wanted.user } : {}),
        }
      : { mode: wanted.mode }
    : (saved ?? { mode: 'none' });
  const password = wanted?.mode === 'custom' ? (wanted.password ?? null) : null;
  const system = environmentProxyResolver(env);
  return new Connector((target) => resolveRoute(settings, password, target, system));
}

/** Which secret store a start would use, without recording the choice (openVault would). */
async function vaultCheck(
  home: string,
  vaultDir: string,
  recorded: string | null,
  preference: string | undefined,
): Promise<string> {
  const file = new FileVault(vaultDir);
  const os = new OsKeyringVault(home);
  if (recorded === file.backend.id || (recorded === null && preference === 'file')) {
    return `${file.backend.label} in ${vaultDir}${recorded ? '' : ' (OPENIR_VAULT=file)'}.`;
  }
  if (recorded === null || recorded === os.backend.id) {
    if (await os.probe()) return `${os.backend.label} answers.`;
    if (recorded === os.backend.id) {
      throw new OpenIrError(
        'VAULT_DOWNGRADE_REFUSED',
        `This node's secrets are in the ${os.backend.label}, which is not answering.`,
        { fix: 'Start and unlock the keyring for the user OpenIR runs as, then start OpenIR again.' },
      );
    }
    if (preference === 'os') {
      throw new OpenIrError(
        'VAULT_UNAVAILABLE',
        `OPENIR_VAULT=os was set but the ${os.backend.label} is not answering.`,
        {
          fix: 'Start and unlock the keyring, or unset OPENIR_VAULT to allow the encrypted-file backend.',
        },
      );
    }
    return `No OS keyring answers; a start would keep secrets in the ${file.backend.label} in ${vaultDir}.`;
  }
  throw new OpenIrError(
    'VAULT_UNAVAILABLE',
    `This node's secrets are in the "${recorded}" store, which \`openir serve\` cannot open.`,
    { fix: 'Run OpenIR the way it was registered (desktop or headless).' },
  );
}
