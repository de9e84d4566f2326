import type { Command } from 'commander';
import { OpenIrError } from '../../shared/errors';
import { readWebUiFile, signInLink, SIGN_IN_LINK_TTL_MS, webUiFilePath } from '../../web/signInLink';
import { printResult, type CommandContext } from '../context';

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
        if (!isAlive(ui.pid)) {
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

/** Signal 0 checks a pid without touching it; EPERM means alive under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
