import path from 'node:path';
import type { Command } from 'commander';
import { checkOutputFile, writeOutputFile } from '../../core/outputFile';
import { OpenIrError } from '../../shared/errors';
import { printResult, type CommandContext } from '../context';

/** `openir diagnostics-bundle --out F.zip [--send]`. */
export function addDiagnosticsBundleCommand(program: Command, ctx: CommandContext): void {
  const { run, ensureHost, fail } = ctx;
  program
    .command('diagnostics-bundle')
    .description(
      'write a diagnostics bundle (logs, config with secrets redacted, status, versions, jobs, certificates, proxy) as a zip with an ID for support',
    )
    .option('--out <file>', 'where to write the zip, e.g. diagnostics.zip')
    .option('--send', "also upload it to this node's control plane (over the control channel's TLS)")
    .option('--overwrite', 'replace the file if it exists')
    .action(
      run(async (o, opts: { out?: string; send?: boolean; overwrite?: boolean }) => {
        if (!opts.out) {
          throw new OpenIrError('INVALID_INPUT', 'Say where to write the bundle with --out <file>.', {
            fix: 'e.g. `openir diagnostics-bundle --out diagnostics.zip`.',
          });
        }
        const out = path.resolve(opts.out);
        const overwrite = Boolean(opts.overwrite);
        // Refuse before the host does any work (and before anything is sent).
        await checkOutputFile(out, overwrite);
        const made = await (
          await ensureHost()
        ).call('createDiagnosticsBundle', opts.send ? { send: true } : {});
        await writeOutputFile(out, Buffer.from(made.content, 'base64'), overwrite);
        const result = {
          id: made.id,
          file: out,
          createdAt: made.createdAt,
          size: made.size,
          files: made.files,
          sent: made.sent,
        };
        printResult(o, result, () => {
          const lines = [
            `Diagnostics bundle ID: ${made.id}`,
            `Written to ${out} (${made.size} bytes): ${made.files.map((f) => f.path).join(', ')} and manifest.json.`,
            'Secrets are left out or shown as [redacted]; quote the ID to support.',
          ];
          if (made.sent?.ok) {
            lines.push(
              `Sent to the control plane at ${made.sent.receivedAt}; there: openir-control-plane diagnostics get ${made.id}`,
            );
          }
          return lines.join('\n');
        });
        if (made.sent && !made.sent.ok) {
          // The zip is saved; only the upload failed: say why, and exit non-zero.
          const { error } = made.sent;
          o.err(
            `openir: The bundle ${made.id} was saved to ${out} but not sent: ${error.message}${error.fix ? ` ${error.fix}` : ''} [${error.code}]`,
          );
          fail();
        }
      }),
    );
}
