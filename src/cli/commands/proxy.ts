import type { Command } from 'commander';
import { parseAuthKey } from '../../shared/authKey';
import { OpenIrError } from '../../shared/errors';
import { invalidInput } from '../../shared/invoke';
import { ProxyInputSchema, type ProxyInput, type ProxyTestReport, type ProxyView } from '../../shared/proxy';
import { printResult, type CommandContext } from '../context';

interface ProxyFlags {
  mode?: string;
  address?: string;
  port?: string;
  user?: string;
  passwordStdin?: boolean;
  clearPassword?: boolean;
}

/** `openir proxy …`: the HTTP proxy to the control plane; the password only from standard input. */
export function addProxyCommands(program: Command, ctx: CommandContext): void {
  const { run, ensureHost, io, readSecret, fail } = ctx;
  const proxy = program.command('proxy').description('HTTP proxy used to reach the control plane');

  proxy
    .command('show')
    .description('show the proxy setting and the route in use')
    .action(
      run(async (o) => {
        const view = await (await ensureHost()).call('getProxy', {});
        printResult(o, view, () => formatProxyView(view));
      }),
    );

  proxy
    .command('set')
    .requiredOption('--mode <mode>', 'none | system | custom')
    .option('--address <host>', 'custom proxy host name or IP address')
    .option('--port <port>', 'custom proxy port')
    .option('--user <user>', 'user for Basic authentication')
    .option('--password-stdin', 'read the proxy password from standard input')
    .option('--clear-password', 'remove the saved proxy password')
    .description('save the proxy setting, then restart the host service (works before registration)')
    .action(
      run(async (o, opts: ProxyFlags) => {
        const input = await proxyInputFrom(opts, readSecret);
        const view = await (await ensureHost()).call('setProxy', input);
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
        const input = opts.mode ? await proxyInputFrom(opts, readSecret) : undefined;
        let target: { endpoint: string; pin: string } | undefined;
        if (opts.keyStdin) {
          const key = parseAuthKey((await io.readStdin()).trim());
          target = { endpoint: key.endpoint, pin: key.pin };
        }
        const report = await (
          await ensureHost()
        ).call('testProxy', {
          ...(input ? { proxy: input } : {}),
          ...(target ? { target } : {}),
        });
        printResult(o, report, () => formatProxyTest(report));
        if (!report.ok) {
          o.err(
            `openir: ${report.error?.message ?? 'The test failed.'}${report.error?.fix ? ` ${report.error.fix}` : ''} [${report.error?.code ?? 'INTERNAL'}]`,
          );
          fail();
        }
      }),
    );
}

async function proxyInputFrom(opts: ProxyFlags, readSecret: () => Promise<string>): Promise<ProxyInput> {
  const mode = opts.mode;
  const password = opts.passwordStdin ? await readSecret() : opts.clearPassword ? null : undefined;
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
