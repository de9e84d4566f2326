import type { Command } from 'commander';
import { OpenIrError } from '../../shared/errors';
import { readWebUiFile, signInLink, SIGN_IN_LINK_TTL_MS, webUiFilePath } from '../../web/signInLink';
import { printResult, type CommandContext } from '../context';
import { processAlive } from '../../core/processAlive';

/**
 * `openir ui-url`: a fresh one-time sign-in link to the running web UI, for
 * whoever may read its run/web-ui.json (the host's user; with the Linux
 * service, root and the openir group). Nothing is asked of the host.
 */
export function addUiUrlCommand(program: Command, ctx: CommandContext): void {
  const { run, paths } = ctx;
  program
    .command('ui-url')
    .description('print a one-time sign-in link to the running web UI (valid 10 minutes)')
    .action(
      run(async (o) => {
        const file = webUiFilePath(paths.runDir);
        const ui = await readWebUiFile(file);
        if (!processAlive(ui.pid)) {
          throw new OpenIrError('HOST_NOT_RUNNING', 'The host that served this web UI has stopped.', {
            fix: 'Start it again: `openir serve` (or `sudo systemctl start openir` for the service).',
          });
        }
        const now = Date.now();
        const url = signInLink(ui, now);
        printResult(o, { url, expiresAt: new Date(now + SIGN_IN_LINK_TTL_MS).toISOString() }, () => url);
      }),
    );
}
