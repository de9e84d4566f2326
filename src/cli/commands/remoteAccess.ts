import type { Command } from 'commander';
import { normalizeThumbprint } from '../../shared/certificates';
import { OpenIrError } from '../../shared/errors';
import {
  DEFAULT_REMOTE_ACCESS_PORT,
  RemoteAccessSettingsSchema,
  type RemoteAccessSettings,
  type RemoteAccessView,
} from '../../shared/remoteAccess';
import { invalidInput } from '../../shared/invoke';
import { printResult, type CommandContext } from '../context';

/** `openir remote-access …`: remote access from intranet (TCP 8060 by default). */
export function addRemoteAccessCommands(program: Command, ctx: CommandContext): void {
  const { run, ensureHost } = ctx;
  const remote = program
    .command('remote-access')
    .description('remote access from intranet (peers and intranet clients)');

  remote
    .command('show')
    .description('show the setting, whether it listens and its URL')
    .action(
      run(async (o) => {
        const view = await (await ensureHost()).call('getRemoteAccess', {});
        printResult(o, view, () => formatRemoteAccess(view));
      }),
    );

  const apply = async (settings: RemoteAccessSettings) => {
    const parsed = RemoteAccessSettingsSchema.safeParse(settings);
    if (!parsed.success) throw invalidInput(parsed.error);
    return (await ensureHost()).call('setRemoteAccess', parsed.data);
  };

  remote
    .command('disable')
    .description('stop listening for the intranet')
    .action(
      run(async (o) => {
        const view = await apply({ mode: 'disabled' });
        printResult(o, view, () => formatRemoteAccess(view));
      }),
    );

  remote
    .command('enable')
    .description(
      'listen for the intranet, with a certificate from the store (--cert) or without TLS (--no-tls)',
    )
    .option('--port <port>', 'TCP port', String(DEFAULT_REMOTE_ACCESS_PORT))
    .option('--cert <thumbprint>', 'SHA-1 thumbprint of a certificate in `openir cert list`')
    .option('--no-tls', 'without TLS (not recommended: credentials cross the network in clear)')
    .action(
      run(async (o, opts: { port: string; cert?: string; tls: boolean }) => {
        const port = Number(opts.port);
        if (opts.tls && !opts.cert) {
          throw new OpenIrError(
            'INVALID_INPUT',
            'Give --cert <thumbprint> to enable remote access with TLS, or --no-tls.',
            {
              fix: 'Create one with `openir cert create-self-signed` or import one with `openir cert import`.',
            },
          );
        }
        if (!opts.tls && opts.cert) {
          throw new OpenIrError('INVALID_INPUT', '--cert and --no-tls do not go together.', {
            fix: 'Choose one.',
          });
        }
        const view = await apply(
          opts.tls
            ? { mode: 'tls', port, thumbprint: normalizeThumbprint(opts.cert ?? '') }
            : { mode: 'plain', port },
        );
        printResult(o, view, () => formatRemoteAccess(view));
        if (view.warning && !o.json) o.err(`openir: warning: ${view.warning}`);
      }),
    );
}

function formatRemoteAccess(view: RemoteAccessView): string {
  const s = view.settings;
  const mode =
    s.mode === 'disabled'
      ? 'Disabled'
      : s.mode === 'plain'
        ? `Enabled without TLS on port ${s.port}`
        : `Enabled with TLS on port ${s.port} (certificate ${s.thumbprint})`;
  const lines = [`Remote access: ${mode}`, `Listening:     ${view.listening ? `yes, ${view.url}` : 'no'}`];
  if (!view.changeAllowed && view.changeBlockedReason)
    lines.push(`Locked:        ${view.changeBlockedReason}`);
  if (view.warning) lines.push(`Warning:       ${view.warning}`);
  return lines.join('\n');
}
