import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { parseAuthKey } from '../shared/authKey';
import type { OperationInput, StatusReport } from '../shared/contract';
import { ProxyInputSchema, type ProxyInput, type ProxyTestReport, type ProxyView } from '../shared/proxy';
import { invalidInput } from '../shared/invoke';
import { NodeConfigSchema } from '../core/config';
import { dataPaths, defaultHome, machineFqdn, type DataPaths } from '../core/paths';
import { registerBackupCommands } from './backupCommands';
import { registerCertCommands } from './certCommands';
import { registerConfigCommands } from './configCommands';
import { registerCredentialCommands } from './credentialCommands';
import { registerRemoteAccessCommands } from './remoteAccessCommands';
import { OPENIR_VERSION } from '../core/version';
import { OpenIrError } from '../shared/errors';
import type { RunningWebUi } from '../web/server';
import { HostClient } from './client';
import { ensureHostRunning, stopHostProcess } from './hostProcess';
import { formatStatus, printError, printResult, readSecretFromStdin, type Output } from './output';

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
}

const defaultIo: Io = {
  env: process.env,
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** `openir`: a thin client of the host contract. Returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const paths = dataPaths(defaultHome(io.env));
  const client = new HostClient(paths.socket);
  const out = (cmd: Command): Output => ({
    json: Boolean(cmd.optsWithGlobals().json),
    out: io.stdout,
    err: io.stderr,
  });
  let exitCode = 0;
  const run =
    <A extends unknown[]>(fn: (o: Output, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const cmd = args[args.length - 1] as Command;
      const o = out(cmd);
      try {
        await fn(o, ...args);
      } catch (error) {
        printError(o, error);
        exitCode = 1;
      }
    };

  const program = new Command('openir')
    .description('OpenIR integration runtime node: status, registration and service control.')
    .version(OPENIR_VERSION)
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });

  program
    .command('status')
    .description('show the node status')
    .action(
      run(async (o) => {
        if (!(await client.isRunning())) {
          const offline = offlineStatus(paths);
          printResult(
            o,
            offline,
            () =>
              `Status: Stopped (the OpenIR host is not running; start it with \`openir start\`)${offline.registered ? `\nIntegration runtime: ${offline.ir?.name}\nNode: ${offline.node?.name}` : ''}`,
          );
          return;
        }
        const status = await client.call('getStatus', {});
        printResult(o, status, () => formatStatus(status));
      }),
    );

  program
    .command('register')
    .description(
      'register this node with an integration runtime (reads the key from standard input unless given)',
    )
    .argument(
      '[authKey]',
      'the authentication key; prefer --key-stdin, since arguments are visible to other users',
    )
    .option('--key-stdin', 'read the authentication key from standard input')
    .option('--node-name <name>', 'name of this node in the integration runtime (default: host name)')
    .option(
      '--replace',
      'on a registered node: remove it from its control plane, then register (back up first: `openir backup`)',
    )
    .action(
      run(async (o, authKeyArg: string | undefined, opts: RegisterFlags) => {
        if (authKeyArg && !opts.keyStdin) {
          o.err(
            'openir: warning: an authentication key given as an argument is visible in the process list; use --key-stdin.',
          );
        }
        const authKey = authKeyArg && !opts.keyStdin ? authKeyArg : (await io.readStdin()).trim();
        // Fail on a malformed key before starting anything; the host checks it again.
        parseAuthKey(authKey);
        await ensureHostRunning(paths, client, io.env);
        const status = await client.call('register', {
          authKey,
          ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
          ...(opts.replace ? { replace: true } : {}),
        });
        printResult(o, status, () => `Registered.\n${formatStatus(status)}`);
      }),
    );

  program
    .command('start')
    .description('start the runtime host service (starts the background host if needed)')
    .action(
      run(async (o) => {
        await ensureHostRunning(paths, client, io.env);
        printStatus(o, await client.call('startService', {}));
      }),
    );

  program
    .command('stop')
    .description('stop the runtime host service (the node goes Stopped)')
    .option('--exit', 'also end the background host process')
    .action(
      run(async (o, opts: { exit?: boolean }) => {
        if (!(await client.isRunning())) {
          printResult(o, offlineStatus(paths), () => 'Status: Stopped (the OpenIR host is not running)');
          return;
        }
        const status = await client.call('stopService', {});
        if (opts.exit) await stopHostProcess(paths);
        printStatus(o, status);
      }),
    );

  program
    .command('restart')
    .description('restart the runtime host service')
    .action(
      run(async (o) => {
        await ensureHostRunning(paths, client, io.env);
        printStatus(o, await client.call('restartService', {}));
      }),
    );

  const proxy = program.command('proxy').description('HTTP proxy used to reach the control plane');

  proxy
    .command('show')
    .description('show the proxy setting and the route in use')
    .action(
      run(async (o) => {
        await ensureHostRunning(paths, client, io.env);
        const view = await client.call('getProxy', {});
        printResult(o, view, () => formatProxyView(view));
      }),
    );

  const withProxyFlags = (cmd: Command) =>
    cmd
      .requiredOption('--mode <mode>', 'none | system | custom')
      .option('--address <host>', 'custom proxy host name or IP address')
      .option('--port <port>', 'custom proxy port')
      .option('--user <user>', 'user for Basic authentication')
      .option('--password-stdin', 'read the proxy password from standard input')
      .option('--clear-password', 'remove the saved proxy password');

  withProxyFlags(proxy.command('set'))
    .description('save the proxy setting, then restart the host service (works before registration)')
    .action(
      run(async (o, opts: ProxyFlags) => {
        const input = await proxyInputFrom(opts, io);
        await ensureHostRunning(paths, client, io.env);
        const view = await client.call('setProxy', input);
        printResult(o, view, () => `Saved; the host service restarted.\n${formatProxyView(view)}`);
      }),
    );

  proxy
    .command('test')
    .description(
      'test reaching the control plane step by step (saved setting, or the one given with --mode …)',
    )
    .option('--mode <mode>', 'test this setting instead of the saved one: none | system | custom')
    .option('--address <host>', 'custom proxy host name or IP address')
    .option('--port <port>', 'custom proxy port')
    .option('--user <user>', 'user for Basic authentication')
    .option('--password-stdin', 'read the proxy password from standard input')
    .option(
      '--key-stdin',
      'before registration: read the auth key from standard input and test its control plane',
    )
    .action(
      run(async (o, opts: ProxyFlags & { keyStdin?: boolean }) => {
        if (opts.keyStdin && opts.passwordStdin) {
          throw new OpenIrError('INVALID_INPUT', 'Use --key-stdin or --password-stdin, not both.', {
            fix: 'Save the proxy password first with `openir proxy set`, then test with --key-stdin.',
          });
        }
        const input = opts.mode ? await proxyInputFrom(opts, io) : undefined;
        let target: { endpoint: string; pin: string } | undefined;
        if (opts.keyStdin) {
          const key = parseAuthKey((await io.readStdin()).trim());
          target = { endpoint: key.endpoint, pin: key.pin };
        }
        await ensureHostRunning(paths, client, io.env);
        const report = await client.call('testProxy', {
          ...(input ? { proxy: input } : {}),
          ...(target ? { target } : {}),
        });
        printResult(o, report, () => formatProxyTest(report));
        if (!report.ok) {
          o.err(
            `openir: ${report.error?.message ?? 'The test failed.'}${report.error?.fix ? ` ${report.error.fix}` : ''} [${report.error?.code ?? 'INTERNAL'}]`,
          );
          exitCode = 1;
        }
      }),
    );

  const ensureHost = async () => {
    await ensureHostRunning(paths, client, io.env);
    return client;
  };
  registerRemoteAccessCommands(program, { run, ensureHost });
  registerCredentialCommands(program, { run, ensureHost, io });
  registerConfigCommands(program, { run, ensureHost });
  registerBackupCommands(program, { run, ensureHost, io });
  registerCertCommands(program, {
    run,
    io,
    ensureHost,
    dataDir: paths.home,
    fqdn: machineFqdn(io.env),
    fail: () => {
      exitCode = 1;
    },
  });

  program
    .command('logs')
    .description('show recent log entries of the running host')
    .option('--limit <n>', 'how many entries', '200')
    .option('--level <level>', 'minimum level: debug, info, warn or error', 'debug')
    .action(
      run(async (o, opts: { limit: string; level: string }) => {
        const logs = await client.call('getLogs', {
          limit: Number(opts.limit),
          minLevel: opts.level as OperationInput<'getLogs'>['minLevel'],
        });
        printResult(o, logs, () =>
          logs.entries
            .map((e) => `${e.time} ${e.level.toUpperCase().padEnd(5)} [${e.source}] ${e.message}`)
            .join('\n'),
        );
      }),
    );

  program
    .command('serve')
    .description('run the host in the foreground (headless)')
    .option('--background', 'started by `openir start`: no console chatter and no web UI')
    .option('--web-port <port>', 'port of the web UI on 127.0.0.1 (0 picks a free one)', '8061')
    .option('--no-web', 'do not serve the web UI')
    .action(
      run(async (o, opts: { background?: boolean; webPort: string; web: boolean }) => {
        const webPort = Number(opts.webPort);
        if (!Number.isInteger(webPort) || webPort < 0 || webPort > 65535) {
          throw new OpenIrError(
            'INVALID_INPUT',
            `--web-port must be a port number from 0 to 65535, not "${opts.webPort}".`,
          );
        }
        // Loaded only here: the host's modules (HTTP server, keyring) would slow every other command.
        const { runHost } = await import('../core/runHost.js');
        const running = await runHost({ home: paths.home, env: io.env, echo: !opts.background });
        let web: RunningWebUi | null = null;
        if (opts.web && !opts.background) {
          try {
            const { startWebUi } = await import('../web/server.js');
            web = await startWebUi({
              api: running.host,
              events: running.host.events,
              log: running.logger.child('web'),
              port: webPort,
            });
          } catch (error) {
            await running.close();
            throw error;
          }
        }
        const status = await running.host.getStatus();
        if (!opts.background) {
          // The URL carries the token: printed here once, never logged.
          printResult(
            o,
            {
              status: status.status,
              dataDir: paths.home,
              socket: paths.socket,
              pid: process.pid,
              webUrl: web?.url ?? null,
            },
            () =>
              [
                `OpenIR host ${OPENIR_VERSION} running (pid ${process.pid}), status ${status.status}.`,
                `Data directory: ${paths.home}`,
                `Local API: ${paths.socket}`,
                web ? `Web UI: ${web.url}` : 'Web UI: off (--no-web)',
                'Press Ctrl+C to stop.',
              ].join('\n'),
          );
        }
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await web?.close();
        await running.close();
      }),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode;
}

interface RegisterFlags {
  keyStdin?: boolean;
  nodeName?: string;
  replace?: boolean;
}

interface ProxyFlags {
  mode?: string;
  address?: string;
  port?: string;
  user?: string;
  passwordStdin?: boolean;
  clearPassword?: boolean;
}

async function proxyInputFrom(opts: ProxyFlags, io: Io): Promise<ProxyInput> {
  const mode = opts.mode;
  const password = opts.passwordStdin ? await readSecretFromStdin(io) : opts.clearPassword ? null : undefined;
  const raw =
    mode === 'custom'
      ? {
          mode,
          address: opts.address ?? '',
          port: opts.port === undefined ? Number.NaN : Number(opts.port),
          ...(opts.user ? { user: opts.user } : {}),
          ...(password !== undefined ? { password } : {}),
        }
      : { mode };
  if (mode !== 'custom' && (opts.address || opts.port || opts.user || opts.passwordStdin)) {
    throw new OpenIrError(
      'INVALID_INPUT',
      '--address, --port, --user and --password-stdin go with --mode custom.',
      {
        fix: 'Use --mode custom, or drop those options.',
      },
    );
  }
  const parsed = ProxyInputSchema.safeParse(raw);
  if (!parsed.success) throw invalidInput(parsed.error);
  return parsed.data;
}

function formatProxyView(view: ProxyView): string {
  const s = view.settings;
  const lines = [
    `Proxy:    ${s.mode === 'none' ? 'Do not use proxy' : s.mode === 'system' ? 'Use system proxy' : 'Use custom proxy'}`,
  ];
  if (s.mode === 'custom') {
    lines.push(`Address:  ${s.address}:${s.port}`);
    if (s.user) lines.push(`User:     ${s.user} (password ${view.hasPassword ? 'saved' : 'not set'})`);
  }
  if (view.route)
    lines.push(
      `Route:    ${view.route.kind === 'proxy' ? `through ${view.route.proxy}` : 'direct'} (${view.route.reason})`,
    );
  return lines.join('\n');
}

function formatProxyTest(report: ProxyTestReport): string {
  const lines = [
    `Testing ${report.target} (${report.route.reason}${report.route.proxy ? `: ${report.route.proxy}` : ''})`,
  ];
  for (const step of report.steps) {
    lines.push(
      `  ${step.ok ? 'ok  ' : 'FAIL'} ${step.label.padEnd(52)} ${`${step.ms.toFixed(1)} ms`.padStart(10)}  ${step.detail}`,
    );
  }
  lines.push(
    report.ok
      ? 'The control plane is reachable with this setting.'
      : `Failed: ${report.error?.message ?? ''}`,
  );
  if (!report.ok && report.error?.fix) lines.push(`Fix: ${report.error.fix}`);
  return lines.join('\n');
}

function printStatus(o: Output, status: StatusReport): void {
  printResult(o, status, () => formatStatus(status));
}

/** What can be said without a running host: registered or not, and Stopped. */
function offlineStatus(paths: DataPaths) {
  let registration = null;
  try {
    registration = NodeConfigSchema.parse(JSON.parse(fs.readFileSync(paths.config, 'utf8'))).registration;
  } catch {
    registration = null;
  }
  return {
    status: 'Stopped' as const,
    hostRunning: false,
    registered: registration !== null,
    ir: registration ? { id: registration.irId, name: registration.irName } : null,
    node: registration
      ? { id: registration.nodeId, name: registration.nodeName, fqdn: registration.fqdn }
      : null,
    dataDir: paths.home,
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`openir: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
