import { Command, CommanderError } from 'commander';
import { OPENIR_VERSION } from '../core/version';
import { addBackupCommands } from './commands/backup';
import { addCertCommands } from './commands/cert';
import { addConfigCommands } from './commands/config';
import { addDiagnosticsBundleCommand } from './commands/diagnosticsBundle';
import { addCredentialCommands } from './commands/credential';
import { addDiagnoseCommand } from './commands/diagnose';
import { addLogsCommand } from './commands/logs';
import { addProxyCommands } from './commands/proxy';
import { addRegisterCommand, addUnregisterCommand } from './commands/registration';
import { addRemoteAccessCommands } from './commands/remoteAccess';
import { addServeCommand } from './commands/serve';
import { addDrainCommand, addServiceCommands, addStatusCommand } from './commands/service';
import { addUiUrlCommand } from './commands/uiUrl';
import { createCommandContext, defaultIo, printError, type Io } from './context';
import { OpenIrError } from '../shared/errors';

export type { Io } from './context';

/** `openir`: a thin client of the host contract. Returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const ctx = createCommandContext(io);
  const program = new Command('openir')
    .description('OpenIR integration runtime node: status, registration and service control.')
    .version(OPENIR_VERSION)
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });

  // The order here is the order `openir --help` lists the commands in.
  addStatusCommand(program, ctx);
  addRegisterCommand(program, ctx);
  addServiceCommands(program, ctx);
  addDrainCommand(program, ctx);
  addProxyCommands(program, ctx);
  addRemoteAccessCommands(program, ctx);
  addCredentialCommands(program, ctx);
  addConfigCommands(program, ctx);
  addBackupCommands(program, ctx);
  addUnregisterCommand(program, ctx);
  addCertCommands(program, ctx);
  addLogsCommand(program, ctx);
  addDiagnoseCommand(program, ctx);
  addDiagnosticsBundleCommand(program, ctx);
  addServeCommand(program, ctx);
  addUiUrlCommand(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Usage errors (unknown command or flag) exit 2; --help and --version exit 0.
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      // Commander printed its reason and the help; end with the coded line every
      // other failure ends with (and the error object with --json), so scripts
      // and `--json` readers see a usage error like any other bad input.
      printError(
        { json: argv.includes('--json'), out: io.stdout, err: io.stderr },
        new OpenIrError(
          'INVALID_INPUT',
          `${error.message.replace(/^error:\s*/i, '').replace(/\.?\s*$/, '')}.`,
          {
            fix: 'See `openir <command> --help` for what the command takes.',
          },
        ),
      );
      return 2;
    }
    throw error;
  }
  return ctx.exitCode;
}

/**
 * Runs the CLI as this process (`bin/openir.js`, and `main.js serve --background`
 * as `openir start` spawns it): exits with its code once the output is written.
 */
export function runAsProcess(argv: string[]): void {
  main(argv).then(exitAfterOutput, (error: unknown) => {
    const message = (error as Error | undefined)?.message;
    process.stderr.write(`openir: ${message ? message : String(error)}\n`);
    exitAfterOutput(1);
  });
}

/**
 * process.exit drops what a pipe has not taken yet (a --json answer over 64 KiB
 * came out cut), so exit only when stdout and stderr have written everything,
 * or when the reader is gone (EPIPE).
 */
export function exitAfterOutput(code: number): void {
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.once('error', () => process.exit(code));
    stream.write('', done);
  }
}

if (require.main === module) runAsProcess(process.argv.slice(2));
