import type { Command } from 'commander';
import { OpenIrError } from '../../shared/errors';
import { OPENIR_VERSION } from '../../core/version';
import { localEndpoint } from '../../core/localEndpoint';
import type { ServeCheckReport } from '../../core/serveCheck';
import { takeUnattendedEnv } from '../../core/unattended';
import type { RunningWebUi } from '../../web/server';
import { printResult, type CommandContext } from '../context';

/** `openir serve`: the host in the foreground, and what `openir start` spawns in the background. */
export function addServeCommand(program: Command, ctx: CommandContext): void {
  const { run, io, paths, fail } = ctx;
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
    .option(
      '--check',
      "check the data directory, secret store and OPENIR_* settings (and that the key's control plane answers), print what a start would do, and exit",
    )
    .action(
      run(
        async (
          o,
          opts: { background?: boolean; webPort: string; web: boolean; check?: boolean; hideToken?: boolean },
        ) => {
          // Read before anything else runs, and the key deleted from the environment (see unattended.ts).
          const unattended = takeUnattendedEnv(io.env);
          const webPort = Number(opts.webPort);
          if (!Number.isInteger(webPort) || webPort < 0 || webPort > 65535) {
            throw new OpenIrError(
              'INVALID_INPUT',
              `--web-port must be a port number from 0 to 65535, not "${opts.webPort}".`,
            );
          }
          if (opts.check) {
            const { checkServe } = await import('../../core/serveCheck.js');
            const report = await checkServe({
              home: paths.home,
              unattended,
              env: io.env,
              webPort: opts.web && !opts.background ? webPort : null,
            });
            printResult(o, report, () => formatCheck(report));
            if (!report.ok) {
              const first = report.checks.find((c) => !c.ok);
              if (!o.json && first)
                o.err(
                  `openir: ${first.detail}${first.fix ? ` ${first.fix}` : ''} [${first.code ?? 'INTERNAL'}]`,
                );
              fail();
            }
            return;
          }
          // Loaded only here: the host's modules (HTTP server, keyring) would slow every other command.
          const { runHost, groupAccessFrom } = await import('../../core/runHost.js');
          const running = await runHost({ home: paths.home, env: io.env, echo: !opts.background });
          if (unattended) {
            const { UnattendedStart } = await import('../../core/unattended.js');
            try {
              await new UnattendedStart({
                api: running.host,
                log: running.logger.child('unattended'),
                fqdn: ctx.fqdn,
                redact: (secret) => running.redactor.add(secret),
                attempts: wholeFrom(io.env.OPENIR_REGISTER_ATTEMPTS, 5),
                retryMs: wholeFrom(io.env.OPENIR_REGISTER_RETRY_MS, 2000),
              }).run(unattended);
            } catch (error) {
              // Never a loop: the process ends non-zero and the service manager's restart policy decides.
              await running.close();
              throw error;
            }
          }
          let web: RunningWebUi | null = null;
          if (opts.web && !opts.background) {
            try {
              const { startWebUi } = await import('../../web/server.js');
              const { webUiFilePath } = await import('../../web/signInLink.js');
              const { DEFAULT_SESSION_LIMITS } = await import('../../web/guard.js');
              web = await startWebUi({
                api: running.host,
                events: running.host.events,
                log: running.logger.child('web'),
                port: webPort,
                signInFile: { path: webUiFilePath(paths.runDir), groupAccess: groupAccessFrom(io.env) },
                // Shorter or fewer sessions for a stricter site (and for tests); longer or more are not offered.
                sessionLimits: {
                  idleMs: Math.min(
                    wholeFrom(io.env.OPENIR_WEB_SESSION_IDLE_MS, DEFAULT_SESSION_LIMITS.idleMs),
                    DEFAULT_SESSION_LIMITS.idleMs,
                  ),
                  maxSessions: Math.min(
                    wholeFrom(io.env.OPENIR_WEB_SESSION_MAX, DEFAULT_SESSION_LIMITS.maxSessions),
                    DEFAULT_SESSION_LIMITS.maxSessions,
                  ),
                },
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
            // On Windows this reads the recorded pipe name: once.
            const socket = localEndpoint(paths);
            printResult(
              o,
              {
                status: status.status,
                dataDir: paths.home,
                socket,
                pid: process.pid,
                webUrl,
              },
              () =>
                [
                  `OpenIR host ${OPENIR_VERSION} running (pid ${process.pid}), status ${status.status}.`,
                  `Data directory: ${paths.home}`,
                  `Local API: ${socket}`,
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
            // A drain ends with the service stopped: the host process ends too (exit 0), so a
            // service manager or an update script sees it done and can replace the program.
            running.host.events.on('statusChanged', (report) => {
              if (report.drain?.state === 'stopped') stop();
            });
          });
          await web?.close();
          await running.close();
        },
      ),
    );
}

function wholeFrom(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

function formatCheck(report: ServeCheckReport): string {
  return [
    ...report.checks.map(
      (c) =>
        `${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(16)} ${c.detail}${c.ok || !c.fix ? '' : `\n     ${' '.repeat(16)} Fix: ${c.fix}`}`,
    ),
    '',
    report.wouldDo
      ? `${report.ok ? 'A start' : 'Once fixed, a start'} ${report.wouldDo}.`
      : 'Fix the problems above, then check again.',
  ].join('\n');
}
