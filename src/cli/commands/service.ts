import fs from 'node:fs';
import type { Command } from 'commander';
import type { StatusReport } from '../../shared/statusReport';
import { NodeConfigSchema } from '../../core/config';
import type { DataPaths } from '../../core/paths';
import { printResult, type CommandContext, type Output } from '../context';
import { stopHostProcess } from '../hostProcess';
import { OpenIrError } from '../../shared/errors';

/** `openir status`: answers without a host too (Stopped, and the registration on disk). */
export function addStatusCommand(program: Command, ctx: CommandContext): void {
  const { run, client, paths } = ctx;
  program
    .command('status')
    .description('show the node status')
    .action(
      run(async (o) => {
        if (!(await client.isRunning())) {
          const offline = offlineStatus(paths);
          printResult(
            o,
            offline,
            () =>
              `Status: Stopped (the OpenIR host is not running; start it with \`openir start\`)${offline.registered ? `\nIntegration runtime: ${offline.ir?.name}\nNode: ${offline.node?.name}` : ''}`,
          );
          return;
        }
        const status = await client.call('getStatus', {});
        printResult(o, status, () => formatStatus(status));
      }),
    );
}

/** `openir start`, `stop` and `restart`: the runtime host service (and the background host process). */
export function addServiceCommands(program: Command, ctx: CommandContext): void {
  const { run, client, paths, ensureHost } = ctx;

  program
    .command('start')
    .description('start the runtime host service (starts the background host if needed)')
    .action(
      run(async (o) => {
        printStatus(o, await (await ensureHost()).call('startService', {}));
      }),
    );

  program
    .command('stop')
    .description('stop the runtime host service (the node goes Stopped)')
    .option('--exit', 'also end the background host process')
    .action(
      run(async (o, opts: { exit?: boolean }) => {
        if (!(await client.isRunning())) {
          printResult(o, offlineStatus(paths), () => 'Status: Stopped (the OpenIR host is not running)');
          return;
        }
        const status = await client.call('stopService', {});
        if (opts.exit) await stopHostProcess(paths);
        printStatus(o, status);
      }),
    );

  program
    .command('restart')
    .description('restart the runtime host service')
    .action(
      run(async (o) => {
        printStatus(o, await (await ensureHost()).call('restartService', {}));
      }),
    );
}

/**
 * `openir drain`: no new jobs, the running ones finish, then the service stops
 * (and a headless host process exits). Waits for it unless --no-wait.
 */
export function addDrainCommand(program: Command, ctx: CommandContext): void {
  const { run, client } = ctx;
  program
    .command('drain')
    .description('take no new jobs, let the running ones finish, then stop the service (before an update)')
    .option('--no-wait', 'return at once; `openir status` follows the drain')
    .action(
      run(async (o, opts: { wait: boolean }) => {
        let status = await client.call('drain', {});
        if (!o.json) {
          o.out(
            `Draining: this node takes no new jobs; ${status.jobs.running} running job(s) finish, then the service stops.`,
          );
        }
        if (opts.wait) {
          let lastRunning = status.jobs.running;
          // Jobs may run for hours: no deadline here; Ctrl+C leaves the drain going in the host.
          for (;;) {
            if (status.drain?.state === 'stopped' || !status.serviceRunning) break;
            await new Promise((resolve) => setTimeout(resolve, 1000));
            try {
              status = await client.call('getStatus', {});
            } catch (error) {
              // The headless host ends once drained: a host gone is a drain done.
              if (error instanceof OpenIrError && error.code === 'HOST_NOT_RUNNING') {
                if (!o.json) o.out('Drained: every running job finished; the host stopped.');
                else o.out(JSON.stringify({ drain: { state: 'stopped' }, hostRunning: false }, null, 2));
                return;
              }
              throw error;
            }
            if (!o.json && status.jobs.running !== lastRunning) {
              lastRunning = status.jobs.running;
              o.out(`Draining: ${lastRunning} job(s) still running.`);
            }
          }
          if (!o.json) o.out('Drained: every running job finished; the runtime host service stopped.');
        }
        if (o.json) printResult(o, status, () => '');
      }),
    );
}

export function formatStatus(s: StatusReport): string {
  const rows: [string, string][] = [['Status', s.status]];
  if (s.ir) rows.push(['Integration runtime', `${s.ir.name} (${s.ir.id})`]);
  if (s.node) rows.push(['Node', `${s.node.name} (${s.node.fqdn})`]);
  if (s.controlPlane) rows.push(['Control plane', s.controlPlane.endpoint]);
  if (s.connectedSince) rows.push(['Connected since', s.connectedSince]);
  rows.push(['Version', s.version]);
  // The control plane's version policy, as it applies to this node.
  const standing = s.versionStanding;
  if (standing?.updateAvailable) rows.push(['Update available', standing.updateAvailable]);
  if (standing?.expiresOn && !standing.refused)
    rows.push(['Version expires', `This version expires on ${standing.expiresOn}`]);
  if (s.drain?.state === 'draining')
    rows.push(['Drain', `draining: no new jobs; stops when ${s.jobs.running} running job(s) finish`]);
  if (s.drain?.state === 'stopped') rows.push(['Drain', 'drained: the service stopped']);
  rows.push(['Jobs', `${s.jobs.running} running / ${s.jobs.limit} limit`]);
  rows.push(['Secret store', s.vault.strength === 'strong' ? `${s.vault.label} (strong)` : s.vault.label]);
  // What the admin compares before `ir approve --fingerprint`.
  if (s.syncKeyFingerprint) rows.push(['Sync key', s.syncKeyFingerprint]);
  if (s.irNodes.length > 0) rows.push(['IR nodes', s.irNodes.map((n) => `${n.name} ${n.status}`).join(', ')]);
  // Waiting for approval is not a failure: say what it is.
  const label = s.lastError?.code === 'NODE_PENDING_APPROVAL' ? 'Approval' : 'Last error';
  if (s.lastError) rows.push([label, `${s.lastError.message} [${s.lastError.code}]`]);
  if (s.lastError?.fix) rows.push(['Fix', s.lastError.fix]);
  rows.push(['Data directory', s.host.dataDir]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  if (s.status === 'NeedRegistration')
    lines.push('', 'Register this node with: openir register --key-stdin < key.txt');
  if (s.vault.strength === 'weak') lines.push('', `Warning: ${s.vault.description}`);
  return lines.join('\n');
}

function printStatus(o: Output, status: StatusReport): void {
  printResult(o, status, () => formatStatus(status));
}

/** What can be said without a running host: registered or not, and Stopped. */
function offlineStatus(paths: DataPaths) {
  let registration = null;
  try {
    registration = NodeConfigSchema.parse(JSON.parse(fs.readFileSync(paths.config, 'utf8'))).registration;
  } catch {
    registration = null;
  }
  return {
    status: 'Stopped' as const,
    hostRunning: false,
    registered: registration !== null,
    ir: registration ? { id: registration.irId, name: registration.irName } : null,
    node: registration
      ? { id: registration.nodeId, name: registration.nodeName, fqdn: registration.fqdn }
      : null,
    dataDir: paths.home,
  };
}
