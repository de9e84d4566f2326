import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/atomicFile';
import { OpenIrError } from '../../shared/errors';
import { formatTroubleshootText, renderTroubleshootHtml } from '../../shared/troubleshoot';
import { printResult, type CommandContext } from '../context';

/**
 * `openir diagnose [--json] [--html F]`: the troubleshoot report of this
 * node. The table on stdout (first failure on top), the report under
 * --json, the self-contained HTML page with --html; exit 1 when a check fails.
 */
export function addDiagnoseCommand(program: Command, ctx: CommandContext): void {
  const { run, ensureHost } = ctx;
  program
    .command('diagnose')
    .description(
      'troubleshoot: ordered checks (disk, vault, clock, DNS, TCP, proxy, TLS pin, credential, channel, peers, remote access, data stores) and the ports table; exits 1 when a check fails',
    )
    .option('--html <file>', 'also write the report as one self-contained HTML file (no scripts)')
    .action(
      run(async (o, opts: { html?: string }) => {
        // Refuse a bad destination before the checks run, not after.
        const html = opts.html === undefined ? null : await htmlTarget(opts.html);
        const report = await (await ensureHost()).call('runTroubleshoot', {});
        if (html) await writeFileAtomic(html, Buffer.from(renderTroubleshootHtml(report)), 0o644);
        printResult(o, report, () =>
          [formatTroubleshootText(report), ...(html ? ['', `HTML report written to ${html}.`] : [])].join(
            '\n',
          ),
        );
        if (report.firstFailure) {
          const { error, label } = report.firstFailure;
          o.err(`openir: ${label}: ${error.message}${error.fix ? ` ${error.fix}` : ''} [${error.code}]`);
          ctx.fail();
        }
      }),
    );
}

async function htmlTarget(file: string): Promise<string> {
  const out = path.resolve(file);
  const stat = await fs.stat(out).catch(() => null);
  if (stat?.isDirectory()) {
    throw new OpenIrError('INVALID_INPUT', `${out} is a folder.`, {
      fix: 'Give a file name for the report, e.g. --html troubleshoot.html.',
    });
  }
  const folder = await fs.stat(path.dirname(out)).catch(() => null);
  if (!folder?.isDirectory()) {
    throw new OpenIrError('INVALID_INPUT', `The folder ${path.dirname(out)} does not exist.`, {
      fix: 'Create the folder first, or write the report elsewhere.',
    });
  }
  return out;
}
