import path from 'node:path';
import type { Command } from 'commander';
import type { JobSettingsView } from '../../shared/credentials';
import { OpenIrError } from '../../shared/errors';
import { printResult, type CommandContext } from '../context';

/** `openir config …`: local folder path validation and the concurrent jobs limit. */
export function addConfigCommands(program: Command, ctx: CommandContext): void {
  const { run, ensureHost } = ctx;
  const config = program.command('config').description('job settings of this node');

  config
    .command('show')
    .description('show the allowed folders and the concurrent jobs limit')
    .action(
      run(async (o) => {
        const view = await (await ensureHost()).call('getJobSettings', {});
        printResult(o, view, () => formatSettings(view));
      }),
    );

  config
    .command('allow-folder')
    .description('let jobs read and write under this folder (local folder path validation)')
    .argument('<path>')
    .action(
      run(async (o, folder: string) => {
        // Relative to where the command runs, not to where the host runs.
        const view = await (await ensureHost()).call('allowFolder', { path: folderPath(folder) });
        printResult(o, view, () => formatSettings(view));
      }),
    );

  config
    .command('disallow-folder')
    .description('take a folder off the allow-list')
    .argument('<path>')
    .action(
      run(async (o, folder: string) => {
        const view = await (await ensureHost()).call('disallowFolder', { path: folderPath(folder) });
        printResult(o, view, () => formatSettings(view));
      }),
    );

  config
    .command('set')
    .description('set a job setting: concurrent-jobs <N|default>')
    .argument('<key>', 'concurrent-jobs')
    .argument('<value>', 'a whole number, or "default" for the one chosen from cores and memory')
    .action(
      run(async (o, key: string, value: string) => {
        if (key !== 'concurrent-jobs') {
          throw new OpenIrError('INVALID_INPUT', `Unknown setting "${key}".`, {
            fix: 'Settable: concurrent-jobs.',
          });
        }
        if (value !== 'default' && !/^\d{1,4}$/.test(value)) {
          throw new OpenIrError(
            'INVALID_INPUT',
            `concurrent-jobs must be a whole number or "default", not "${value}".`,
          );
        }
        const limit = value === 'default' ? null : Number(value);
        const view = await (await ensureHost()).call('setConcurrentJobsLimit', { limit });
        printResult(o, view, () => formatSettings(view));
      }),
    );
}

function formatSettings(view: JobSettingsView): string {
  const limit = view.concurrentJobsLimit;
  return [
    `Concurrent jobs limit: ${limit.effective}${limit.configured === null ? ' (default from cores and memory)' : ` (set; default ${limit.default})`}`,
    'Allowed folders (local folder path validation):',
    ...(view.allowedFolders.length === 0
      ? [
          '  none: jobs may not read or write any local path. Allow one with `openir config allow-folder <path>`.',
        ]
      : view.allowedFolders.map((f) => `  ${f}`)),
  ].join('\n');
}

/**
 * A folder argument as the host takes it: absolute, resolved against the
 * shell's folder. An empty one is refused: path.resolve('') is the current
 * folder, and `openir config allow-folder "$UNSET_VAR"` would allow it.
 */
function folderPath(folder: string): string {
  if (folder.trim() === '') {
    throw new OpenIrError('INVALID_INPUT', 'The folder is empty.', {
      fix: 'Give the path of the folder, e.g. `openir config allow-folder /srv/exports`.',
    });
  }
  return path.resolve(folder);
}
