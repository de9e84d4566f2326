import type { Command } from 'commander';
import { parseAuthKey } from '../../shared/authKey';
import { OpenIrError } from '../../shared/errors';
import { readAuthKeyFile } from '../../core/authKeyFile';
import type { StatusReport } from '../../shared/statusReport';
import { printResult, type CommandContext } from '../context';
import { formatStatus } from './service';

interface RegisterFlags {
  keyStdin?: boolean;
  keyFile?: string;
  nodeName?: string;
  replace?: boolean;
  replaceNode?: boolean;
}

/** `openir register`: the key comes from standard input or a file, never from the command line. */
export function addRegisterCommand(program: Command, ctx: CommandContext): void {
  const { run, io, ensureHost } = ctx;
  program
    .command('register')
    .description(
      'register this node with an integration runtime (reads the key from standard input unless given)',
    )
    .argument(
      '[authKey]',
      'refused: a key on the command line is visible to other users; use --key-stdin or --key-file',
    )
    .option('--key-stdin', 'read the authentication key from standard input')
    .option('--key-file <file>', 'read the authentication key from a file (one line; e.g. chmod 600)')
    .option('--node-name <name>', 'name of this node in the integration runtime (default: host name)')
    .option(
      '--replace',
      'on a registered node: remove it from its control plane, then register (back up first: `openir backup`)',
    )
    .option(
      '--replace-node',
      'if the integration runtime already has a node of this name (this machine, its data lost), replace it',
    )
    .action(
      run(async (o, authKeyArg: string | undefined, opts: RegisterFlags) => {
        if (authKeyArg !== undefined) {
          // Never echoed: the key is a secret, and it is already in the process list and the shell history.
          throw new OpenIrError(
            'INVALID_INPUT',
            'An authentication key on the command line is visible to every user of this machine (process list, shell history); it is refused.',
            {
              fix: 'Pipe it in with `openir register --key-stdin < key.txt`, or give `--key-file key.txt` (chmod 600). Regenerate the key if others may have seen it.',
            },
          );
        }
        if (opts.keyStdin && opts.keyFile !== undefined) {
          throw new OpenIrError('INVALID_INPUT', 'Give the key one way only.', {
            fix: 'Use --key-file <file> or --key-stdin.',
          });
        }
        // Fail on an unreadable file or a malformed key before starting anything; the host checks it again.
        const authKey = opts.keyFile
          ? (await readAuthKeyFile(opts.keyFile)).authKey
          : (await io.readStdin()).trim();
        if (!opts.keyFile) parseAuthKey(authKey);
        const status = await (
          await ensureHost()
        ).call('register', {
          authKey,
          ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
          ...(opts.replace ? { replace: true } : {}),
          ...(opts.replaceNode ? { replaceNode: true } : {}),
        });
        printResult(o, status, () => `Registered.\n${formatStatus(status)}`);
      }),
    );
}

/** `openir unregister`: leave the control plane and clear the registration here. */
export function addUnregisterCommand(program: Command, ctx: CommandContext): void {
  const { run, ensureHost } = ctx;
  program
    .command('unregister')
    .description(
      'remove this node from its control plane and clear its registration here (back up first: `openir backup`)',
    )
    .option('--force', 'clean this machine even if the control plane cannot be reached')
    .action(
      run(async (o, opts: { force?: boolean }) => {
        const result = await (await ensureHost()).call('unregister', opts.force ? { force: true } : {});
        printResult(o, result, () =>
          [
            `Unregistered "${result.node.name}" from the integration runtime "${result.ir.name}".`,
            ...(result.controlPlaneRemoved ? ['The control plane no longer lists it.'] : []),
            ...(result.notice ? [result.notice] : []),
            formatUnregistered(result.status),
          ].join('\n'),
        );
      }),
    );
}

function formatUnregistered(status: StatusReport): string {
  return `Status: ${status.status}. Register again with: openir register --key-stdin < key.txt (or restore a backup).`;
}
