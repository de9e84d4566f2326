import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  describeBackup,
  MAX_BACKUP_BYTES,
  MIN_BACKUP_PASSWORD_LENGTH,
  removeNodeCommand,
  type BackupInfo,
} from '../../shared/backup';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../../core/atomicFile';
import { parseBackup } from '../../core/backup/format';
import { printResult, type CommandContext } from '../context';
import { formatStatus } from './service';

/** `openir backup`, `openir backup inspect` and `openir restore`. */
export function addBackupCommands(program: Command, ctx: CommandContext): void {
  const { run, ensureHost, readSecret } = ctx;

  const readPassword = async (given: boolean | undefined, what: string): Promise<string> => {
    if (!given) {
      throw new OpenIrError('INVALID_INPUT', `The ${what} password is read from standard input only.`, {
        fix: 'Add --password-stdin and pipe the password in (e.g. from a password manager), so it never shows in the process list.',
      });
    }
    return readSecret();
  };

  const backup = program
    .command('backup')
    .description(
      'back up registration, settings and secrets into a password-encrypted file (restore with `openir restore`)',
    )
    .option('--out <file>', 'where to write the backup, e.g. node1.openir-backup')
    .option(
      '--password-stdin',
      `read the backup password (at least ${MIN_BACKUP_PASSWORD_LENGTH} characters) from standard input`,
    )
    .option('--overwrite', 'replace the file if it exists')
    .action(
      run(async (o, opts: { out?: string; passwordStdin?: boolean; overwrite?: boolean }) => {
        if (!opts.out) {
          throw new OpenIrError('INVALID_INPUT', 'Say where to write the backup with --out <file>.', {
            fix: 'e.g. `openir backup --out node1.openir-backup --password-stdin`.',
          });
        }
        const out = path.resolve(opts.out);
        if (!opts.overwrite && (await exists(out))) {
          throw new OpenIrError('INVALID_INPUT', `${out} already exists.`, {
            fix: 'Choose another file name, or add --overwrite.',
          });
        }
        const password = await readPassword(opts.passwordStdin, 'backup');
        const made = await (await ensureHost()).call('createBackup', { password });
        await writeFileAtomic(out, Buffer.from(made.content, 'base64'), 0o600);
        const result = { file: out, info: made.info, contents: made.contents };
        printResult(o, result, () =>
          [
            `Backed up ${describeBackup(made.info)} to ${out}.`,
            `Inside, encrypted with the password: ${made.contents.files.join(', ')} and ${made.contents.secrets} secret(s) from the vault.`,
            'Keep the file and its password apart; without the password the backup cannot be restored.',
          ].join('\n'),
        );
      }),
    );

  backup
    .command('inspect')
    .description('show which node and integration runtime a backup file holds (no password needed)')
    .requiredOption('--file <file>', 'the backup file')
    .action(
      run(async (o, opts: { file: string }) => {
        const info = parseBackup(await readBackupFile(opts.file)).info;
        printResult(o, info, () => formatInfo(info));
      }),
    );

  program
    .command('restore')
    .description('restore a backup made with `openir backup` (on this machine or a new one)')
    .requiredOption('--file <file>', 'the backup file')
    .option('--password-stdin', 'read the backup password from standard input')
    .option('--replace', "replace this node's current registration, settings and secrets")
    .action(
      run(async (o, opts: { file: string; passwordStdin?: boolean; replace?: boolean }) => {
        const bytes = await readBackupFile(opts.file);
        // Fails on a file that is not a backup before asking anything of the host.
        parseBackup(bytes);
        const password = await readPassword(opts.passwordStdin, 'backup');
        const restored = await (
          await ensureHost()
        ).call('restoreBackup', {
          content: bytes.toString('base64'),
          password,
          ...(opts.replace ? { replace: true } : {}),
        });
        printResult(o, restored, () => {
          const lines = [`Restored ${describeBackup(restored.info)}.`];
          if (restored.replaced && !restored.replaced.sameNode) {
            lines.push(
              `It replaced the registration of "${restored.replaced.nodeName}" in "${restored.replaced.irName}", which its control plane still lists (remove it there with \`${removeNodeCommand(restored.replaced.irName, restored.replaced.nodeName)}\`).`,
            );
          }
          lines.push(formatStatus(restored.status));
          return lines.join('\n');
        });
      }),
    );
}

async function readBackupFile(file: string): Promise<Buffer> {
  const full = path.resolve(file);
  let stat;
  try {
    stat = await fs.stat(full);
  } catch (cause) {
    throw new OpenIrError('NOT_FOUND', `There is no file ${full}.`, { fix: 'Check the path.', cause });
  }
  if (!stat.isFile() || stat.size > MAX_BACKUP_BYTES) {
    throw new OpenIrError('BACKUP_CORRUPT', `${full} is not an OpenIR backup file.`, {
      fix: 'Give the file written by `openir backup`.',
    });
  }
  return fs.readFile(full);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

function formatInfo(info: BackupInfo): string {
  const rows: [string, string][] = [
    ['Node', info.node ? `${info.node.name} (${info.node.id}, ${info.node.fqdn})` : 'not registered'],
    ['Integration runtime', info.ir ? `${info.ir.name} (${info.ir.id})` : '—'],
    ['Control plane', info.controlPlane ?? '—'],
    ['Backed up', info.createdAt],
    ['OpenIR version', info.productVersion],
    ['Format version', String(info.formatVersion)],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(21)}${v}`).join('\n');
}
