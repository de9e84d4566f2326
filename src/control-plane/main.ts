import { homedir } from 'node:os';
import { Command, CommanderError } from 'commander';
import { OpenIrError, isOpenIrError, type ErrorBody } from '../shared/errors';
import {
  approveNode,
  createIr,
  listIrs,
  rejectNode,
  openAdminSession,
  removeNode,
  showKeys,
  showNodes,
  updateIr,
  type AdminSession,
  type CommandResult,
} from './admin';
import { cancelJob, listJobs, showJob, submitJob } from './jobCommands';
import { createFactory, factoryTokens, listFactories } from './factoryCommands';
import { getDiagnostics, listDiagnostics } from './diagnostics';
import { drainNode, setVersionPolicy, showVersionPolicy } from './versionCommands';
import { localFetch, runMonitor, type FetchIrMetrics } from './monitorCommands';
import { parseDurationOption, parseExpireAfter, parseSizeOption } from './duration';
import { streamLogger } from './log';
import { irShares, linkIr, setMaxLinks, shareIr, unshareIr } from './sharing';
import { sendWake } from './wake';
import { resolveDataDir, type DataDirContext } from './paths';
import { DEFAULT_MAX_NODES, MAX_NODES_CEILING } from './registry';
import { JOIN_APPROVALS, type JoinApproval } from './store';
import { normalizeSyncKeyFingerprint } from '../shared/syncKey';
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
};

interface CommonOptions {
  data?: string;
  json?: boolean;
}

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
  const admin = (options: CommonOptions, work: (session: AdminSession) => CommandResult) => {
    const session = openAdminSession(resolveDataDir(options.data, contextOf(io)));
    try {
      print(work(session), options.json);
    } finally {
      session.close();
    }
  };

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
  withCommon(ir.command('create <name>'))
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
        options: CommonOptions & { maxNodes: string; joinApproval?: string; factory?: string },
      ) =>
        attempt(fail, () => {
          const joinApproval = joinApprovalOption(options.joinApproval);
          admin(options, (s) =>
            createIr(s, name, parseWhole('--max-nodes', options.maxNodes), joinApproval, options.factory),
          );
        }),
    );
  withCommon(ir.command('list'))
    .description('List the integration runtimes and their status.')
    .action((options: CommonOptions) => attempt(fail, () => admin(options, (s) => listIrs(s))));
  withCommon(ir.command('keys <name>'))
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
        options: CommonOptions & { regenerate?: string; expiresIn?: string; singleUse?: boolean },
      ) =>
        attempt(fail, () => {
          const expiresInMs =
            options.expiresIn === undefined
              ? null
              : parseDurationOption(
                  options.expiresIn,
                  '--expires-in',
                  'make a key that does not expire (leave --expires-in out)',
                );
          admin(options, (s) =>
            showKeys(s, name, options.regenerate, { expiresInMs, singleUse: options.singleUse === true }),
          );
        }),
    );
  withCommon(ir.command('nodes <name>'))
    .description('Show the nodes of an integration runtime and their status.')
    .action((name: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => showNodes(s, name))),
    );
  withCommon(ir.command('monitor <name>'))
    .description(
      "Watch an integration runtime's nodes live: status, CPU, memory, network in/out, jobs; refreshed every heartbeat.",
    )
    .option('--once', 'print one table (or, with --json, one document with the 24 h series) and exit')
    .action((name: string, options: CommonOptions & { once?: boolean }) =>
      attemptAsync(fail, () =>
        runMonitor({
          fetch: localMetricsFetch(resolveDataDir(options.data, contextOf(io))),
          ir: name,
          once: options.once === true,
          json: options.json === true,
          write: io.stdout,
          stopped: io.stopRequested(),
        }),
      ),
    );
  withCommon(ir.command('update <name>'))
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
        options: CommonOptions & {
          maxNodes?: string;
          expireOfflineAfter?: string;
          joinApproval?: string;
          maxLinks?: string;
        },
      ) =>
        attempt(fail, () => {
          if (options.maxLinks !== undefined) {
            const maxLinks = parseWhole('--max-links', options.maxLinks);
            admin(options, (s) => setMaxLinks(s, name, maxLinks));
            if (
              options.maxNodes === undefined &&
              options.expireOfflineAfter === undefined &&
              options.joinApproval === undefined
            )
              return;
          }
          if (
            options.maxNodes === undefined &&
            options.expireOfflineAfter === undefined &&
            options.joinApproval === undefined
          ) {
            throw new OpenIrError('INVALID_INPUT', 'Nothing to change.', {
              fix: 'Give --max-nodes <n>, --expire-offline-after <duration|off> and/or --join-approval required|auto.',
            });
          }
          const joinApproval = joinApprovalOption(options.joinApproval);
          const update = {
            ...(options.maxNodes === undefined
              ? {}
              : { maxNodes: parseWhole('--max-nodes', options.maxNodes) }),
            ...(options.expireOfflineAfter === undefined
              ? {}
              : { expireOfflineAfterMs: parseExpireAfter(options.expireOfflineAfter) }),
            ...(joinApproval === undefined ? {} : { joinApproval }),
          };
          admin(options, (s) => updateIr(s, name, update));
        }),
    );
  withCommon(ir.command('approve <name> <node>'))
    .description(
      'Let a Pending node in (or accept the new sync key of a node whose key changed): it gets jobs and credentials.',
    )
    .option(
      '--fingerprint <F>',
      "the sync key fingerprint the node shows (SHA256:…); refused if the node's key is another",
    )
    .action((name: string, node: string, options: CommonOptions & { fingerprint?: string }) =>
      attemptAsync(fail, async () => {
        let fingerprint: string | undefined;
        if (options.fingerprint !== undefined) {
          const normal = normalizeSyncKeyFingerprint(options.fingerprint);
          if (!normal) throw problems.invalidFingerprint(options.fingerprint);
          fingerprint = normal;
        }
        admin(options, (s) => approveNode(s, name, node, fingerprint));
        // Jobs queued while no approved node had room can go to this one now.
        await sendWake(resolveDataDir(options.data, contextOf(io)));
      }),
    );
  withCommon(ir.command('reject <name> <node>'))
    .description('Refuse a Pending node: it is removed and never receives credentials.')
    .action((name: string, node: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => rejectNode(s, name, node))),
    );
  withCommon(ir.command('remove-node <name> <node>'))
    .description('Remove a node from an integration runtime; its credential stops working.')
    .action((name: string, node: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => removeNode(s, name, node))),
    );

  // Sharing (issue 17): the owner grants another factory; that factory links the IR and runs jobs on its nodes.
  withCommon(ir.command('share <name>'))
    .description('Let another data factory link this integration runtime and run jobs on its nodes.')
    .requiredOption('--with <factory>', 'the data factory to share it with')
    .action((name: string, options: CommonOptions & { with: string }) =>
      attempt(fail, () => admin(options, (s) => shareIr(s, name, options.with))),
    );
  withCommon(ir.command('unshare <name>'))
    .description("Revoke a factory's grant: its linked IRs become Unshared and refuse new jobs.")
    .requiredOption('--with <factory>', 'the data factory to revoke')
    .action((name: string, options: CommonOptions & { with: string }) =>
      attempt(fail, () => admin(options, (s) => unshareIr(s, name, options.with))),
    );
  withCommon(ir.command('shares <name>'))
    .description('Show who an integration runtime is shared with, its linked IRs, and its resource ID.')
    .action((name: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => irShares(s, name))),
    );
  withCommon(ir.command('link <name>'))
    .description("Create a linked IR in a factory: its jobs run on a shared IR's nodes.")
    .requiredOption('--shared <resource-id>', 'the shared IR: factories/<factory>/integrationRuntimes/<ir>')
    .requiredOption(
      '--factory <name>',
      'the data factory the linked IR belongs to (the one it was shared with)',
    )
    .action((name: string, options: CommonOptions & { shared: string; factory: string }) =>
      attempt(fail, () => admin(options, (s) => linkIr(s, name, options.shared, options.factory))),
    );

  const factory = program
    .command('factory')
    .description('Manage data factories (tenants): each owns IRs and has API tokens for the admin REST API.');
  withCommon(factory.command('create <name>'))
    .description('Create a data factory and print its API token (shown only once).')
    .action((name: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => createFactory(s, name))),
    );
  withCommon(factory.command('list'))
    .description('List the data factories, their IRs and active tokens.')
    .action((options: CommonOptions) => attempt(fail, () => admin(options, (s) => listFactories(s))));
  withCommon(factory.command('tokens <name>'))
    .description("List a factory's API tokens, or issue (--rotate, --add) or revoke one.")
    .option('--rotate', 'issue a new token and revoke all its others')
    .option('--add', 'issue one more token; the others keep working (overlap while clients move)')
    .option('--revoke <id>', 'revoke one token by its id')
    .action((name: string, options: CommonOptions & { rotate?: boolean; add?: boolean; revoke?: string }) =>
      attempt(fail, () =>
        admin(options, (s) =>
          factoryTokens(s, name, {
            ...(options.rotate ? { rotate: true } : {}),
            ...(options.add ? { add: true } : {}),
            ...(options.revoke === undefined ? {} : { revoke: options.revoke }),
          }),
        ),
      ),
    );

  const job = program.command('job').description('Queue copy jobs and follow them.');
  // After a change the running server is woken to act on it now; if none runs, the job waits in the queue.
  const adminAndWake = async (options: CommonOptions, work: (session: AdminSession) => CommandResult) => {
    admin(options, work);
    await sendWake(resolveDataDir(options.data, contextOf(io)));
  };
  withCommon(ir.command('drain <name> <node>'))
    .description(
      'Drain a node (before updating it): it takes no new jobs, finishes its running ones, then stops its service; shown as Upgrading.',
    )
    .action((name: string, node: string, options: CommonOptions) =>
      attemptAsync(fail, () => adminAndWake(options, (s) => drainNode(s, name, node))),
    );

  const version = program
    .command('version')
    .description('The version policy: the latest version, the oldest accepted, and expiry dates.');
  withCommon(version.command('set'))
    .description(
      'Set the version policy; nodes learn it with their next heartbeat, and expired versions are refused.',
    )
    .requiredOption('--latest <version>', 'the version nodes should run (they show "Update available")')
    .option('--minimum <version>', "refuse versions below this one ('none' clears it; absent keeps it)")
    .option(
      '--expires <version=date...>',
      'refuse <version> from <date> (YYYY-MM-DD, 00:00 UTC); nodes warn 90 days before',
    )
    .action((options: CommonOptions & { latest: string; minimum?: string; expires?: string[] }) =>
      attemptAsync(fail, () =>
        adminAndWake(options, (s) =>
          setVersionPolicy(s, {
            latest: options.latest,
            ...(options.minimum !== undefined ? { minimum: options.minimum } : {}),
            ...(options.expires ? { expires: options.expires } : {}),
          }),
        ),
      ),
    );
  withCommon(version.command('show'))
    .description('Show the version policy and where each node stands against it.')
    .action((options: CommonOptions) => attempt(fail, () => admin(options, (s) => showVersionPolicy(s))));
  withCommon(job.command('submit'))
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
        options: CommonOptions & { ir: string; source: string; sink: string; format: string; mode?: string },
      ) => attemptAsync(fail, () => adminAndWake(options, (s) => submitJob(s, options))),
    );
  withCommon(job.command('list'))
    .description('List jobs, newest first.')
    .option('--ir <name>', 'only the jobs of this integration runtime')
    .action((options: CommonOptions & { ir?: string }) =>
      attempt(fail, () => admin(options, (s) => listJobs(s, options.ir))),
    );
  withCommon(job.command('show <id>'))
    .description('Show a job: state, node, progress, checksum, reason.')
    .action((id: string, options: CommonOptions) =>
      attempt(fail, () => admin(options, (s) => showJob(s, id))),
    );
  withCommon(job.command('cancel <id>'))
    .description('Cancel a job: at once if Queued, else its node is told to stop.')
    .action((id: string, options: CommonOptions) =>
      attemptAsync(fail, () => adminAndWake(options, (s) => cancelJob(s, id))),
    );

  // Bundles are files in the data directory: these read them without opening the database.
  const files = (options: CommonOptions, work: (dataDir: string) => CommandResult) =>
    print(work(resolveDataDir(options.data, contextOf(io))), options.json);
  const diagnostics = program
    .command('diagnostics')
    .description('Diagnostics bundles nodes sent (`openir diagnostics-bundle --send`).');
  withCommon(diagnostics.command('list'))
    .description('List the received bundles: ID, node, IR, size, received at; newest first.')
    .option('--ir <name>', 'only the bundles of this integration runtime')
    .action((options: CommonOptions & { ir?: string }) =>
      attempt(fail, () => files(options, (dir) => listDiagnostics(dir, options.ir))),
    );
  withCommon(diagnostics.command('get <id>'))
    .description('Write a received bundle to a file (default ./<id>.zip), checked against its SHA-256.')
    .option('--out <file>', 'where to write the zip')
    .option('--overwrite', 'replace the file if it exists')
    .action((id: string, options: CommonOptions & { out?: string; overwrite?: boolean }) =>
      attempt(fail, () =>
        files(options, (dir) => getDiagnostics(dir, id, options.out, Boolean(options.overwrite))),
      ),
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

/** `ir monitor` reads the running server's API (the series is in its memory), found through its data directory. */
function localMetricsFetch(dataDir: string): FetchIrMetrics {
  const session = openAdminSession(dataDir);
  let identity;
  try {
    identity = session.store.getServiceIdentity();
  } finally {
    session.close();
  }
  if (!identity) {
    throw new OpenIrError('CONTROL_PLANE_UNREACHABLE', `No control plane has served from ${dataDir} yet.`, {
      fix: 'Start it with `openir-control-plane serve`.',
    });
  }
  return localFetch({ endpoint: identity.endpoint, pin: identity.pin, dataDir });
}

function withCommon(command: Command): Command {
  return command
    .option(
      '--data <dir>',
      'data directory (default: $OPENIR_CONTROL_PLANE_HOME, else the platform data folder)',
    )
    .option('--json', 'print exactly one JSON document on stdout');
}

function attempt(fail: (error: unknown) => void, work: () => void): void {
  try {
    work();
  } catch (error) {
    fail(error);
  }
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
