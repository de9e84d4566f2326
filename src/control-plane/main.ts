import { homedir } from 'node:os';
import { Command, CommanderError } from 'commander';
import { z } from 'zod';
import { OpenIrError, isOpenIrError, type ErrorBody } from '../shared/errors';
import { ReceivedDiagnosticsSchema } from '../shared/diagnosticsBundle';
import { normalizeSyncKeyFingerprint } from '../shared/syncKey';
import type { CommandResult } from './admin';
import { AdminApiClient, type ApiTargetOptions } from './apiClient';
import { writeDiagnosticsBundle } from './diagnostics';
import { runMonitor } from './monitorCommands';
import { IrMetricsSchema } from './monitoring';
import { parseDurationOption, parseExpireAfter, parseSizeOption } from './duration';
import { streamLogger } from './log';
import { resolveDataDir, type DataDirContext } from './paths';
import { DEFAULT_MAX_NODES, MAX_NODES_CEILING } from './registry';
import { JOIN_APPROVALS, type JoinApproval } from './store';
import { problems } from './problems';
import {
  ControlPlaneServer,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_HOST,
  DEFAULT_PORT,
} from './server';

const CLI = 'openir-control-plane';

/** The process around the program, injected so the CLI runs in-process in tests. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the operator asks `serve` to stop. */
  stopRequested(): Promise<void>;
  /** All of stdin, for `--token-stdin`. */
  readStdin(): Promise<string>;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stopRequested: () =>
    new Promise((resolve) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    }),
  readStdin: async () => {
    // A token typed at a terminal would show on the screen (and stdin would wait for Ctrl+D).
    if (process.stdin.isTTY) {
      throw new OpenIrError(
        'INVALID_INPUT',
        '--token-stdin reads the token from a pipe or a file, not a terminal.',
        {
          fix: 'For example: openir-control-plane ir list --url U --token-stdin < token-file, or set OPENIR_CONTROL_PLANE_TOKEN.',
        },
      );
    }
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text;
  },
};

interface CommonOptions {
  data?: string;
  json?: boolean;
}

/** The options of every command that talks to the admin API. */
type ClientOptions = CommonOptions & ApiTargetOptions;

interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Under /api/v1/admin, with its query. */
  route: string;
  body?: unknown;
}

/** A name as one URL path segment: `.` and `..` would be resolved away into another route, so they are refused. */
function enc(name: string): string {
  if (name === '.' || name === '..') {
    throw new OpenIrError('INVALID_INPUT', `'${name}' is not a valid name.`, {
      fix: 'Give the name of an integration runtime, node, factory or job.',
    });
  }
  return encodeURIComponent(name);
}
const DiagnosticsListSchema = z.object({ bundles: z.array(ReceivedDiagnosticsSchema) });

interface ServeOptions extends CommonOptions {
  port: string;
  host: string;
  cert?: string;
  key?: string;
  publicEndpoint?: string;
  heartbeatIntervalMs: string;
  heartbeatTimeoutMs: string;
  stagingMaxSize: string;
  stagingRetention: string;
}

/** Runs the CLI; resolves to the exit code (`serve` resolves once the server has stopped). */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const wantsJson = argv.includes('--json');
  const fail = (error: unknown) => {
    exitCode = 1;
    reportError(io, error, wantsJson);
  };
  const print = (result: CommandResult, json: boolean | undefined) =>
    io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
  // Every command but `serve` is a request to the admin REST API (apiClient.ts); none opens the database.
  const connect = (options: ClientOptions) =>
    AdminApiClient.connect(options, {
      env: io.env,
      readStdin: io.readStdin,
      dataDir: () => resolveDataDir(options.data, contextOf(io)),
    });
  /** Checks the flags (`request` throws with the flag's name), then sends the request and prints the answer. */
  const api = (options: ClientOptions, request: () => ApiRequest) =>
    attemptAsync(fail, async () => {
      const { method, route, body } = request();
      const client = await connect(options);
      if (options.json) {
        io.stdout(`${JSON.stringify(await client.json(method, route, body), null, 2)}\n`);
      } else {
        const text = await client.text(method, route, body);
        io.stdout(text.endsWith('\n') ? text : `${text}\n`);
      }
    });

  const program = new Command(CLI)
    .description(
      'The OpenIR reference control plane: integration runtimes, auth keys, node registration and status.',
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });

  withCommon(program.command('serve'))
    .description('Run the control plane (HTTPS API and node control channels).')
    .option('--port <port>', 'TCP port; 0 picks a free one', String(DEFAULT_PORT))
    .option('--host <host>', 'address to listen on', DEFAULT_HOST)
    .option('--cert <file>', 'PEM certificate to serve instead of the generated self-signed one')
    .option('--key <file>', 'PEM private key of --cert')
    .option(
      '--public-endpoint <url>',
      'https://host:port that auth keys send nodes to (default: https://<host>:<port>)',
    )
    .option(
      '--heartbeat-interval-ms <ms>',
      'how often nodes send heartbeats',
      String(DEFAULT_HEARTBEAT_INTERVAL_MS),
    )
    .option(
      '--heartbeat-timeout-ms <ms>',
      'silence after which a node is Offline',
      String(DEFAULT_HEARTBEAT_TIMEOUT_MS),
    )
    .option('--staging-max-size <size>', "most bytes one job may stage (e.g. 500M, 50G) or 'off'", '50G')
    .option(
      '--staging-retention <duration>',
      "how long a finished job's staged output is kept (e.g. 12h, 7d) or 'off' to keep it",
      '7d',
    )
    .action(async (options: ServeOptions) => {
      try {
        await serve(io, options);
      } catch (error) {
        fail(error);
      }
    });

  const ir = program.command('ir').description('Manage integration runtimes.');
  withClient(ir.command('create <name>'))
    .description('Create an integration runtime and print its two auth keys (shown only once).')
    .option(
      '--max-nodes <n>',
      `most nodes the IR accepts (1-${MAX_NODES_CEILING})`,
      String(DEFAULT_MAX_NODES),
    )
    .option(
      '--join-approval <policy>',
      'required (the default): nodes after the first wait Pending for `ir approve`; auto: they are approved as they register',
    )
    .option('--factory <name>', "the data factory that owns it (default: 'default')")
    .action(
      (
        name: string,
        options: ClientOptions & { maxNodes: string; joinApproval?: string; factory?: string },
      ) =>
        api(options, () => {
          const joinApproval = joinApprovalOption(options.joinApproval);
          return {
            method: 'POST',
            route: '/irs',
            body: {
              name,
              maxNodes: parseWhole('--max-nodes', options.maxNodes),
              ...(joinApproval === undefined ? {} : { joinApproval }),
              ...(options.factory === undefined ? {} : { factory: options.factory }),
            },
          };
        }),
    );
  withClient(ir.command('list'))
    .description('List the integration runtimes and their status.')
    .action((options: ClientOptions) => api(options, () => ({ method: 'GET', route: '/irs' })));
  withClient(ir.command('keys <name>'))
    .description('Show when the auth keys were made, or replace one with --regenerate.')
    .option('--regenerate <slot>', 'key1 or key2: revoke that key and print its replacement')
    .option(
      '--expires-in <duration>',
      'with --regenerate: the new key registers nodes only this long (30m, 2h, 7d)',
    )
    .option('--single-use', 'with --regenerate: the new key registers one node, then no more')
    .action(
      (
        name: string,
        options: ClientOptions & { regenerate?: string; expiresIn?: string; singleUse?: boolean },
      ) =>
        api(options, () => {
          if (options.expiresIn !== undefined) {
            parseDurationOption(
              options.expiresIn,
              '--expires-in',
              'make a key that does not expire (leave --expires-in out)',
            );
          }
          if (options.regenerate === undefined) {
            if (options.expiresIn !== undefined || options.singleUse) {
              throw new OpenIrError('INVALID_INPUT', '--expires-in and --single-use apply to a new key.', {
                fix: `Give the key to replace: ${CLI} ir keys ${name} --regenerate key1 --expires-in 30m --single-use`,
              });
            }
            return { method: 'GET', route: `/irs/${enc(name)}/keys` };
          }
          return {
            method: 'POST',
            route: `/irs/${enc(name)}/keys/${enc(options.regenerate)}/regenerate`,
            body: {
              ...(options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn }),
              ...(options.singleUse ? { singleUse: true } : {}),
            },
          };
        }),
    );
  withClient(ir.command('nodes <name>'))
    .description('Show the nodes of an integration runtime and their status.')
    .action((name: string, options: ClientOptions) =>
      api(options, () => ({ method: 'GET', route: `/irs/${enc(name)}/nodes` })),
    );
  withClient(ir.command('monitor <name>'))
    .description(
      "Watch an integration runtime's nodes live: status, CPU, memory, network in/out, jobs; refreshed every heartbeat.",
    )
    .option('--once', 'print one table (or, with --json, one document with the 24 h series) and exit')
    .action((name: string, options: ClientOptions & { once?: boolean }) =>
      attemptAsync(fail, async () => {
        const client = await connect(options);
        await runMonitor({
          fetch: async (irName) =>
            IrMetricsSchema.parse(await client.json('GET', `/irs/${enc(irName)}/metrics`)),
          ir: name,
          once: options.once === true,
          json: options.json === true,
          write: io.stdout,
          stopped: io.stopRequested(),
        });
      }),
    );
  withClient(ir.command('update <name>'))
    .description(
      'Change the most nodes an integration runtime accepts, or how long its nodes may stay Offline.',
    )
    .option('--max-nodes <n>', `most nodes the IR accepts (1-${MAX_NODES_CEILING})`)
    .option(
      '--expire-offline-after <duration>',
      'remove nodes Offline longer than this (30m, 2h, 7d), freeing their slots; off (the default) keeps them',
    )
    .option(
      '--join-approval <policy>',
      'required (the default): nodes after the first wait Pending for `ir approve`; auto: they are approved as they register',
    )
    .option('--max-links <n>', 'most linked IRs other factories may make of it (default 100)')
    .action(
      (
        name: string,
        options: ClientOptions & {
          maxNodes?: string;
          expireOfflineAfter?: string;
          joinApproval?: string;
          maxLinks?: string;
        },
      ) =>
        api(options, () => {
          if (
            options.maxNodes === undefined &&
            options.expireOfflineAfter === undefined &&
            options.joinApproval === undefined &&
            options.maxLinks === undefined
          ) {
            throw new OpenIrError('INVALID_INPUT', 'Nothing to change.', {
              fix: 'Give --max-nodes <n>, --expire-offline-after <duration|off>, --join-approval required|auto and/or --max-links <n>.',
            });
          }
          const joinApproval = joinApprovalOption(options.joinApproval);
          if (options.expireOfflineAfter !== undefined) parseExpireAfter(options.expireOfflineAfter);
          return {
            method: 'PATCH',
            route: `/irs/${enc(name)}`,
            body: {
              ...(options.maxNodes === undefined
                ? {}
                : { maxNodes: parseWhole('--max-nodes', options.maxNodes) }),
              ...(options.expireOfflineAfter === undefined
                ? {}
                : { expireOfflineAfter: options.expireOfflineAfter }),
              ...(joinApproval === undefined ? {} : { joinApproval }),
              ...(options.maxLinks === undefined
                ? {}
                : { maxLinks: parseWhole('--max-links', options.maxLinks) }),
            },
          };
        }),
    );
  withClient(ir.command('approve <name> <node>'))
    .description(
      'Let a Pending node in (or accept the new sync key of a node whose key changed): it gets jobs and credentials.',
    )
    .option(
      '--fingerprint <F>',
      "the sync key fingerprint the node shows (SHA256:…); refused if the node's key is another",
    )
    .action((name: string, node: string, options: ClientOptions & { fingerprint?: string }) =>
      api(options, () => {
        let fingerprint: string | undefined;
        if (options.fingerprint !== undefined) {
          const normal = normalizeSyncKeyFingerprint(options.fingerprint);
          if (!normal) throw problems.invalidFingerprint(options.fingerprint);
          fingerprint = normal;
        }
        return {
          method: 'POST',
          route: `/irs/${enc(name)}/nodes/${enc(node)}/approve`,
          body: fingerprint === undefined ? {} : { fingerprint },
        };
      }),
    );
  withClient(ir.command('reject <name> <node>'))
    .description('Refuse a Pending node: it is removed and never receives credentials.')
    .action((name: string, node: string, options: ClientOptions) =>
      api(options, () => ({ method: 'POST', route: `/irs/${enc(name)}/nodes/${enc(node)}/reject` })),
    );
  withClient(ir.command('remove-node <name> <node>'))
    .description('Remove a node from an integration runtime; its credential stops working.')
    .action((name: string, node: string, options: ClientOptions) =>
      api(options, () => ({ method: 'DELETE', route: `/irs/${enc(name)}/nodes/${enc(node)}` })),
    );
  withClient(ir.command('drain <name> <node>'))
    .description(
      'Drain a node (before updating it): it takes no new jobs, finishes its running ones, then stops its service; shown as Upgrading.',
    )
    .action((name: string, node: string, options: ClientOptions) =>
      api(options, () => ({ method: 'POST', route: `/irs/${enc(name)}/nodes/${enc(node)}/drain` })),
    );

  // Sharing (issue 17): the owner grants another factory; that factory links the IR and runs jobs on its nodes.
  withClient(ir.command('share <name>'))
    .description('Let another data factory link this integration runtime and run jobs on its nodes.')
    .requiredOption('--with <factory>', 'the data factory to share it with')
    .action((name: string, options: ClientOptions & { with: string }) =>
      api(options, () => ({
        method: 'POST',
        route: `/irs/${enc(name)}/shares`,
        body: { factory: options.with },
      })),
    );
  withClient(ir.command('unshare <name>'))
    .description("Revoke a factory's grant: its linked IRs become Unshared and refuse new jobs.")
    .requiredOption('--with <factory>', 'the data factory to revoke')
    .action((name: string, options: ClientOptions & { with: string }) =>
      api(options, () => ({ method: 'DELETE', route: `/irs/${enc(name)}/shares/${enc(options.with)}` })),
    );
  withClient(ir.command('shares <name>'))
    .description('Show who an integration runtime is shared with, its linked IRs, and its resource ID.')
    .action((name: string, options: ClientOptions) =>
      api(options, () => ({ method: 'GET', route: `/irs/${enc(name)}/shares` })),
    );
  withClient(ir.command('link <name>'))
    .description("Create a linked IR in a factory: its jobs run on a shared IR's nodes.")
    .requiredOption('--shared <resource-id>', 'the shared IR: factories/<factory>/integrationRuntimes/<ir>')
    .option(
      '--factory <name>',
      "the data factory the linked IR belongs to (the one it was shared with); a factory token's own by default",
    )
    .action((name: string, options: ClientOptions & { shared: string; factory?: string }) =>
      api(options, () => ({
        method: 'POST',
        route: '/linked-irs',
        body: {
          name,
          sharedIr: options.shared,
          ...(options.factory === undefined ? {} : { factory: options.factory }),
        },
      })),
    );

  const factory = program
    .command('factory')
    .description('Manage data factories (tenants): each owns IRs and has API tokens for the admin REST API.');
  withClient(factory.command('create <name>'))
    .description('Create a data factory and print its API token (shown only once).')
    .action((name: string, options: ClientOptions) =>
      api(options, () => ({ method: 'POST', route: '/factories', body: { name } })),
    );
  withClient(factory.command('list'))
    .description('List the data factories, their IRs and active tokens.')
    .action((options: ClientOptions) => api(options, () => ({ method: 'GET', route: '/factories' })));
  withClient(factory.command('tokens <name>'))
    .description("List a factory's API tokens, or issue (--rotate, --add) or revoke one.")
    .option('--rotate', 'issue a new token and revoke all its others')
    .option('--add', 'issue one more token; the others keep working (overlap while clients move)')
    .option('--revoke <id>', 'revoke one token by its id')
    .action((name: string, options: ClientOptions & { rotate?: boolean; add?: boolean; revoke?: string }) =>
      api(options, () => {
        const chosen = [options.rotate, options.add, options.revoke !== undefined].filter(Boolean).length;
        if (chosen > 1) {
          throw new OpenIrError('INVALID_INPUT', 'Give one of --rotate, --add and --revoke.', {
            fix: `See \`${CLI} factory tokens --help\`.`,
          });
        }
        const tokens = `/factories/${enc(name)}/tokens`;
        if (options.revoke !== undefined)
          return { method: 'DELETE', route: `${tokens}/${enc(options.revoke)}` };
        if (options.rotate) return { method: 'POST', route: tokens, body: { rotate: true } };
        if (options.add) return { method: 'POST', route: tokens, body: {} };
        return { method: 'GET', route: tokens };
      }),
    );

  const version = program
    .command('version')
    .description('The version policy: the latest version, the oldest accepted, and expiry dates.');
  withClient(version.command('set'))
    .description(
      'Set the version policy; connected nodes learn it at once, and expired versions are refused.',
    )
    .requiredOption('--latest <version>', 'the version nodes should run (they show "Update available")')
    .option('--minimum <version>', "refuse versions below this one ('none' clears it; absent keeps it)")
    .option(
      '--expires <version=date...>',
      'refuse <version> from <date> (YYYY-MM-DD, 00:00 UTC); nodes warn 90 days before',
    )
    .action((options: ClientOptions & { latest: string; minimum?: string; expires?: string[] }) =>
      api(options, () => ({
        method: 'PUT',
        route: '/version-policy',
        body: {
          latest: options.latest,
          ...(options.minimum !== undefined ? { minimum: options.minimum } : {}),
          ...(options.expires ? { expires: options.expires } : {}),
        },
      })),
    );
  withClient(version.command('show'))
    .description('Show the version policy and where each node stands against it.')
    .action((options: ClientOptions) => api(options, () => ({ method: 'GET', route: '/version-policy' })));

  const job = program.command('job').description('Queue copy jobs and follow them.');
  withClient(job.command('submit'))
    .description(
      'Queue a copy job for an integration runtime; the control plane pushes it to an Online node.',
    )
    .requiredOption('--ir <name>', 'integration runtime that runs the job')
    .requiredOption(
      '--source <credential:path>',
      'data store credential (set on the nodes) and path or URL to read',
    )
    .requiredOption(
      '--sink <staging|credential:path>',
      "'staging' (upload to this control plane), a localFolder or azureBlob credential and path, or a postgresql credential and table:<schema.table>",
    )
    .option('--format <format>', 'raw, csv or ndjson (csv and ndjson also count rows)', 'raw')
    .option(
      '--mode <mode>',
      'for a table sink (<credential>:table:<schema.table>): append (default) or truncate, in one transaction',
    )
    .action(
      (
        options: ClientOptions & { ir: string; source: string; sink: string; format: string; mode?: string },
      ) =>
        api(options, () => ({
          method: 'POST',
          route: '/jobs',
          body: {
            ir: options.ir,
            source: options.source,
            sink: options.sink,
            format: options.format,
            ...(options.mode === undefined ? {} : { mode: options.mode }),
          },
        })),
    );
  withClient(job.command('list'))
    .description('List jobs, newest first, a page at a time.')
    .option('--ir <name>', 'only the jobs of this integration runtime')
    .option('--limit <n>', 'how many jobs a page holds (1-500)', '200')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .action((options: ClientOptions & { ir?: string; limit: string; cursor?: string }) =>
      api(options, () => {
        const limit = parseWhole('--limit', options.limit);
        if (limit < 1 || limit > 500)
          throw new OpenIrError('INVALID_INPUT', `--limit must be from 1 to 500, not ${limit}.`);
        const query = new URLSearchParams({ limit: String(limit) });
        if (options.ir !== undefined) query.set('ir', options.ir);
        if (options.cursor !== undefined) query.set('cursor', options.cursor);
        return { method: 'GET', route: `/jobs?${query.toString()}` };
      }),
    );
  withClient(job.command('show <id>'))
    .description('Show a job: state, node, progress, checksum, reason.')
    .action((id: string, options: ClientOptions) =>
      api(options, () => ({ method: 'GET', route: `/jobs/${enc(id)}` })),
    );
  withClient(job.command('cancel <id>'))
    .description('Cancel a job: at once if Queued, else its node is told to stop.')
    .action((id: string, options: ClientOptions) =>
      api(options, () => ({ method: 'POST', route: `/jobs/${enc(id)}/cancel` })),
    );

  const diagnostics = program
    .command('diagnostics')
    .description('Diagnostics bundles nodes sent (`openir diagnostics-bundle --send`).');
  withClient(diagnostics.command('list'))
    .description('List the received bundles: ID, node, IR, size, received at; newest first.')
    .option('--ir <name>', 'only the bundles of this integration runtime')
    .action((options: ClientOptions & { ir?: string }) =>
      api(options, () => ({
        method: 'GET',
        route: options.ir === undefined ? '/diagnostics' : `/diagnostics?ir=${enc(options.ir)}`,
      })),
    );
  withClient(diagnostics.command('get <id>'))
    .description('Write a received bundle to a file (default ./<id>.zip), checked against its SHA-256.')
    .option('--out <file>', 'where to write the zip')
    .option('--overwrite', 'replace the file if it exists')
    .action((id: string, options: ClientOptions & { out?: string; overwrite?: boolean }) =>
      attemptAsync(fail, async () => {
        const client = await connect(options);
        const { bundles } = DiagnosticsListSchema.parse(await client.json('GET', '/diagnostics'));
        const entry = bundles.find((bundle) => bundle.id === id.trim().toUpperCase());
        if (!entry) {
          throw new OpenIrError('NOT_FOUND', `No diagnostics bundle ${id} was received here.`, {
            fix: `See \`${CLI} diagnostics list\` for the IDs.`,
          });
        }
        const zip = await client.call('GET', `/diagnostics/${enc(entry.id)}`, { accept: 'any' });
        print(writeDiagnosticsBundle(entry, zip.body, options.out, Boolean(options.overwrite)), options.json);
      }),
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return error.exitCode;
      fail(new OpenIrError('INVALID_INPUT', usageMessage(error.message), { fix: `See \`${CLI} --help\`.` }));
    } else {
      fail(error);
    }
  }
  return exitCode;
}

async function serve(io: Io, options: ServeOptions): Promise<void> {
  const dataDir = resolveDataDir(options.data, contextOf(io));
  const server = await ControlPlaneServer.start({
    dataDir,
    port: parsePort(options.port),
    host: options.host,
    certFile: options.cert,
    keyFile: options.key,
    publicEndpoint: options.publicEndpoint,
    heartbeatIntervalMs: parseWhole('--heartbeat-interval-ms', options.heartbeatIntervalMs),
    heartbeatTimeoutMs: parseWhole('--heartbeat-timeout-ms', options.heartbeatTimeoutMs),
    stagingMaxBytes: parseSizeOption(options.stagingMaxSize, '--staging-max-size'),
    stagingRetentionMs: parseDurationOption(
      options.stagingRetention,
      '--staging-retention',
      'keep staged outputs until you delete them',
    ),
    // Test-only: the expiry sweep runs every minute; tests make it run every few hundred ms.
    ...(io.env.OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS
      ? {
          expirySweepMs: parseWhole(
            'OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS',
            io.env.OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS,
          ),
        }
      : {}),
    log: streamLogger(io.stderr),
  });
  if (options.json) {
    const ready = {
      endpoint: server.endpoint,
      port: server.port,
      pin: server.pin,
      dataDir,
      pid: process.pid,
    };
    io.stdout(`${JSON.stringify(ready)}\n`);
  } else {
    io.stdout(
      [
        `OpenIR control plane listening at ${server.endpoint}`,
        `TLS public key pin: ${server.pin}`,
        `Data directory: ${dataDir}`,
        `Create an integration runtime with: ${CLI} ir create <name> --data ${shellQuote(dataDir)}`,
        'Stop with Ctrl+C.',
        '',
      ].join('\n'),
    );
  }
  await io.stopRequested();
  await server.close();
}

/** Commander's "error: unknown command 'x'\n(Did you mean y?)" as one sentence on one line. */
function usageMessage(text: string): string {
  const line = text
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  return /[.?)]$/.test(line) ? line : `${line}.`;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(text) ? text : `"${text}"`;
}

function withCommon(command: Command): Command {
  return command
    .option(
      '--data <dir>',
      'data directory (default: $OPENIR_CONTROL_PLANE_HOME, else the platform data folder)',
    )
    .option('--json', 'print exactly one JSON document on stdout');
}

/**
 * The common options and where the admin API is: the local server of --data
 * by default (its instance-admin token), or --url with a token.
 */
function withClient(command: Command): Command {
  return withCommon(command)
    .option(
      '--url <url>',
      "another machine's control plane, https://host:port (default: $OPENIR_CONTROL_PLANE_URL, else the one running with --data)",
    )
    .option(
      '--token-stdin',
      'read the API token from stdin (default: $OPENIR_CONTROL_PLANE_TOKEN, else the local instance-admin token)',
    )
    .option(
      '--pin <pin>',
      'with --url: the TLS public key pin `serve` printed, for a self-signed certificate (default: $OPENIR_CONTROL_PLANE_PIN)',
    );
}

async function attemptAsync(fail: (error: unknown) => void, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    fail(error);
  }
}

function parseWhole(flag: string, text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) {
    throw new OpenIrError('INVALID_INPUT', `${flag} must be a whole number, not '${text}'.`);
  }
  return Number(text);
}

function parsePort(text: string): number {
  const port = parseWhole('--port', text);
  if (port > 65_535) throw new OpenIrError('INVALID_INPUT', `--port must be from 0 to 65535, not ${port}.`);
  return port;
}

function contextOf(io: Io): DataDirContext {
  return { env: io.env, platform: process.platform, home: homedir() };
}

function reportError(io: Io, error: unknown, json: boolean): void {
  const body: ErrorBody = isOpenIrError(error)
    ? error.toBody()
    : {
        code: 'INTERNAL',
        message: `Internal error in the control plane: ${(error as Error)?.message ?? String(error)}`,
      };
  io.stderr(`${CLI}: ${body.message}${body.fix ? ` ${body.fix}` : ''}\n`);
  if (json) io.stdout(`${JSON.stringify({ error: body })}\n`);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Everything is closed by now; if a stray handle keeps the loop alive, do not hang the caller.
    setTimeout(() => process.exit(code), 3_000).unref();
  });
}

/** `--join-approval`: required, auto, or absent (undefined). */
function joinApprovalOption(value: string | undefined): JoinApproval | undefined {
  if (value !== undefined && !JOIN_APPROVALS.includes(value as JoinApproval))
    throw problems.invalidJoinApproval(value);
  return value as JoinApproval | undefined;
}
