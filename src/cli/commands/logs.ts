import type { Command } from 'commander';
import type { LogLevel } from '../../shared/logs';
import { printResult, type CommandContext } from '../context';

/** `openir logs`: recent entries from the running host's in-memory log. */
export function addLogsCommand(program: Command, ctx: CommandContext): void {
  const { run, client } = ctx;
  program
    .command('logs')
    .description('show recent log entries of the running host')
    .option('--limit <n>', 'how many entries', '200')
    .option('--level <level>', 'minimum level: debug, info, warn or error', 'debug')
    .action(
      run(async (o, opts: { limit: string; level: string }) => {
        // The contract's schema checks both values; a bad one fails as INVALID_INPUT.
        const logs = await client.call('getLogs', {
          limit: Number(opts.limit),
          minLevel: opts.level as LogLevel,
        });
        printResult(o, logs, () =>
          logs.entries
            .map((e) => `${e.time} ${e.level.toUpperCase().padEnd(5)} [${e.source}] ${e.message}`)
            .join('\n'),
        );
      }),
    );
}
