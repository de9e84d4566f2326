import type { Command } from 'commander';
import { OpenIrError, toErrorBody, type ErrorBody } from '../shared/errors';
import { dataPaths, defaultHome, machineFqdn, type DataPaths } from '../core/paths';
import { localEndpoint } from '../core/localEndpoint';
import { HostClient } from './client';
import { ensureHostRunning } from './hostProcess';

/** The process around the CLI; tests hand in their own to capture output and feed standard input. */
export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
  /** Whether a person is at a terminal to answer a question (stdin and stderr are TTYs). */
  isTty?: () => boolean;
  /** Asks a question on the terminal and answers the line typed. */
  ask?: (question: string) => Promise<string>;
}

export const defaultIo: Io = {
  env: process.env,
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  isTty: () => Boolean(process.stdin.isTTY && process.stderr.isTTY),
  ask: async (question) => {
    const readline = await import('node:readline/promises');
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/** Everything the CLI prints goes through here, so --json and human output never drift apart. */
export interface Output {
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

export function printResult(o: Output, value: unknown, human: () => string): void {
  o.out(o.json ? JSON.stringify(value, null, 2) : human());
}

/** Failure: one line on stderr (and the error object on stdout with --json); the caller exits non-zero. */
export function printError(o: Output, error: unknown): ErrorBody {
  const body = toErrorBody(error);
  if (o.json) o.out(JSON.stringify({ error: body }, null, 2));
  o.err(`openir: ${body.message}${body.fix ? ` ${body.fix}` : ''} [${body.code}]`);
  return body;
}

/** A command's body: it gets the output for this invocation, then commander's arguments. */
export type Action<A extends unknown[]> = (o: Output, ...args: A) => Promise<void>;

/** What every command module gets: the I/O, this data directory, the host and the exit code. */
export interface CommandContext {
  io: Io;
  paths: DataPaths;
  /** This machine's FQDN, as the certificate requirements check it. */
  fqdn: string;
  /** A client of the host for this data directory; it may not be running (see `ensureHost`). */
  client: HostClient;
  /** Wraps a command's body: output per --json, and a thrown error printed once with exit code 1. */
  run<A extends unknown[]>(fn: Action<A>): (...args: A) => Promise<void>;
  /** Starts the background host if needed and returns a client of it. */
  ensureHost(): Promise<HostClient>;
  /** A secret (password, token) is the whole of standard input, less one trailing newline (as `echo` adds). */
  readSecret(): Promise<string>;
  /** Marks the command failed without throwing (it printed its own error). */
  fail(): void;
  /** 0 unless a command failed. */
  readonly exitCode: number;
}

export function createCommandContext(io: Io): CommandContext {
  const paths = dataPaths(defaultHome(io.env));
  const client = new HostClient(() => localEndpoint(paths));
  let exitCode = 0;
  const output = (cmd: Command): Output => ({
    json: Boolean(cmd.optsWithGlobals().json),
    out: io.stdout,
    err: io.stderr,
  });
  return {
    io,
    paths,
    fqdn: machineFqdn(io.env),
    client,
    run:
      <A extends unknown[]>(fn: Action<A>) =>
      async (...args: A) => {
        // commander passes the command itself last.
        const o = output(args[args.length - 1] as Command);
        try {
          await fn(o, ...args);
        } catch (error) {
          printError(o, error);
          exitCode = 1;
        }
      },
    ensureHost: async () => {
      const service = io.env.OPENIR_HOST_SERVICE;
      if (service) {
        // A service owns this data directory (/usr/bin/openir of the Linux
        // package): a host started here would run as the wrong user beside it.
        if (!(await client.isRunning())) {
          throw new OpenIrError('HOST_NOT_RUNNING', `The ${service} service is not running.`, {
            fix: `Start it with \`sudo systemctl start ${service}\` (its log: \`journalctl -u ${service}\`).`,
          });
        }
        return client;
      }
      await ensureHostRunning(paths, client, io.env);
      return client;
    },
    readSecret: () => readSecretFromStdin(io),
    fail: () => {
      exitCode = 1;
    },
    get exitCode() {
      return exitCode;
    },
  };
}

export async function readSecretFromStdin(io: Io): Promise<string> {
  return (await io.readStdin()).replace(/\r?\n$/, '');
}
