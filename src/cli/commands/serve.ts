import type { Command } from 'commander';
import { OpenIrError } from '../../shared/errors';
import { OPENIR_VERSION } from '../../core/version';
import type { RunningWebUi } from '../../web/server';
import { printResult, type CommandContext } from '../context';

/** `openir serve`: the host in the foreground, and what `openir start` spawns in the background. */
export function addServeCommand(program: Command, ctx: CommandContext): void {
  const { run, io, paths } = ctx;
  program
    .command('serve')
    .description('run the host in the foreground (headless)')
    .option('--background', 'started by `openir start`: no console chatter and no web UI')
    .option('--web-port <port>', 'port of the web UI on 127.0.0.1 (0 picks a free one)', '8061')
    .option('--no-web', 'do not serve the web UI')
    .option(
      '--hide-token',
      'print the web UI address without its token (under a service manager that logs output); `openir ui-url` prints sign-in links',
    )
    .action(
      run(async (o, opts: { background?: boolean; webPort: string; web: boolean; hideToken?: boolean }) => {
        const webPort = Number(opts.webPort);
        if (!Number.isInteger(webPort) || webPort < 0 || webPort > 65535) {
          throw new OpenIrError(
            'INVALID_INPUT',
            `--web-port must be a port number from 0 to 65535, not "${opts.webPort}".`,
          );
        }
        // Loaded only here: the host's modules (HTTP server, keyring) would slow every other command.
        const { runHost, groupAccessFrom } = await import('../../core/runHost.js');
        const running = await runHost({ home: paths.home, env: io.env, echo: !opts.background });
        let web: RunningWebUi | null = null;
        if (opts.web && !opts.background) {
          try {
            const { startWebUi } = await import('../../web/server.js');
            const { webUiFilePath } = await import('../../web/signInLink.js');
            web = await startWebUi({
              api: running.host,
              events: running.host.events,
              log: running.logger.child('web'),
              port: webPort,
              signInFile: { path: webUiFilePath(paths.runDir), groupAccess: groupAccessFrom(io.env) },
            });
          } catch (error) {
            await running.close();
            throw error;
          }
        }
        const status = await running.host.getStatus();
        if (!opts.background) {
          // The URL carries the token: printed here once, never logged (and not at
          // all with --hide-token, where this output goes to the journal).
          const webUrl = web ? (opts.hideToken ? `http://127.0.0.1:${web.port}/` : web.url) : null;
          printResult(
            o,
            {
              status: status.status,
              dataDir: paths.home,
              socket: paths.socket,
              pid: process.pid,
              webUrl,
            },
            () =>
              [
                `OpenIR host ${OPENIR_VERSION} running (pid ${process.pid}), status ${status.status}.`,
                `Data directory: ${paths.home}`,
                `Local API: ${paths.socket}`,
                webUrl
                  ? `Web UI: ${webUrl}${opts.hideToken ? ' (a sign-in link: `openir ui-url`)' : ''}`
                  : 'Web UI: off (--no-web)',
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
}
