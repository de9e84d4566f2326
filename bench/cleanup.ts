/**
 * How every bench ends, whatever ends it: it finishes, it throws, an exception
 * escapes, or it gets Ctrl+C (SIGINT), SIGTERM or SIGHUP. In each case it stops
 * every process it started before it exits:
 *
 * 1. the bench's own steps (`onCleanup`), newest first: in-process hosts,
 *    servers, admin sessions, process groups it spawned (`trackGroup`);
 * 2. the test helpers' registries: hosts (`stopAllNodes`, which also ends a
 *    host the CLI started in the background), control planes and their admin
 *    commands (`stopAll`), tinyproxies, PostgreSQL servers (`pg_ctl stop`;
 *    pg_ctl starts the postmaster in its own session, so neither Ctrl+C nor the
 *    bench's death reaches it), then the temp dirs;
 * 3. a sweep: this module marks the bench's environment with a run id
 *    (OPENIR_BENCH_RUN) before anything starts, and every process started
 *    from the bench inherits it, however it was started (detached, through
 *    `sh`, `runuser` or `pg_ctl`). Any process still carrying the id after
 *    steps 1 and 2 was missed: it is named on stderr and killed. The last line
 *    a bench prints on stderr says what the sweep found.
 *
 * Each step is bounded in time; a second signal skips to the sweep. Only a
 * SIGKILL of the bench itself cannot be handled: then run the same sweep by
 * hand, `grep -l OPENIR_BENCH_RUN= /proc/[0-9]*\/environ`.
 *
 * Use: `runBench(main)` instead of `main().catch(…)`; import this module before
 * starting anything (it sets the run id on import).
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopAllAzurites } from '../test/helpers/azurite';
import { stopAll as stopControlPlanes } from '../test/helpers/controlPlane';
import { stopAllMariadb } from '../test/helpers/mariadb';
import { stopAllNodes } from '../test/helpers/node';
import { stopAllPostgres } from '../test/helpers/postgres';
import { stopAllTinyproxies } from '../test/helpers/tinyproxy';
import { cleanupTempDirs } from '../test/helpers/tmp';

export const RUN_MARK = 'OPENIR_BENCH_RUN';
const runId = randomUUID();
process.env[RUN_MARK] = runId;

const STEP_TIMEOUT_MS = 30_000;
const SWEEP_GRACE_MS = 3_000;

interface Step {
  name: string;
  run: () => unknown;
}

const benchSteps: Step[] = [];
const helperSteps: Step[] = [
  { name: 'hosts', run: stopAllNodes },
  { name: 'control planes', run: stopControlPlanes },
  { name: 'tinyproxies', run: stopAllTinyproxies },
  { name: 'PostgreSQL servers', run: stopAllPostgres },
  { name: 'MariaDB servers', run: stopAllMariadb },
  { name: 'Azurite', run: stopAllAzurites },
  { name: 'temp dirs', run: cleanupTempDirs },
];

/**
 * A step run at the end, before the helpers' (newest first): close an in-process host, a server, a
 * session. Returns the step to run it earlier, where the bench is done with the thing; it then does
 * not run again at the end.
 */
export function onCleanup(name: string, run: () => unknown): () => Promise<void> {
  const step: Step = { name, run };
  benchSteps.push(step);
  return async () => {
    const at = benchSteps.indexOf(step);
    if (at < 0) return;
    benchSteps.splice(at, 1);
    await run();
  };
}

/**
 * A child spawned with `detached: true` (its own process group), e.g. `sh -c 'curl …'`:
 * killing the group reaches what the shell started, where `child.kill()` would stop only the shell.
 */
export function trackGroup(child: ChildProcess, name: string): () => Promise<void> {
  return onCleanup(name, () => killGroup(child, 'SIGKILL'));
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Processes other than this one that carry this run's id: everything the bench started and is still alive. */
export function processesOfThisRun(): { pid: number; cmd: string }[] {
  const needle = `${RUN_MARK}=${runId}\0`;
  const found: { pid: number; cmd: string }[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return found; // not Linux: steps 1 and 2 only
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      // A zombie's environ reads empty: it is dead, only waiting for its parent to reap it.
      if (!`${fs.readFileSync(`/proc/${pid}/environ`, 'latin1')}\0`.includes(needle)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      found.push({ pid, cmd });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function killAll(processes: { pid: number }[], signal: NodeJS.Signals): void {
  for (const { pid } of processes) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Waits for this run's processes to be gone; names and kills the ones that stay. */
async function sweep(): Promise<void> {
  const deadline = Date.now() + SWEEP_GRACE_MS;
  let left = processesOfThisRun();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = processesOfThisRun();
  }
  if (left.length === 0) {
    console.error('bench cleanup: no process started by this bench is left running');
    return;
  }
  console.error(`bench cleanup: ${left.length} process(es) outlived the cleanup steps, killing them:`);
  for (const p of left) console.error(`  ${p.pid} ${p.cmd.slice(0, 200)}`);
  killAll(left, 'SIGKILL');
}

async function bounded(step: Step): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(step.run),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not done in ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    console.error(`bench cleanup: ${step.name}: ${(error as Error)?.message ?? String(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

let cleaning: Promise<void> | null = null;

/** Runs every step once (later calls get the same promise), then the sweep. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of [...benchSteps.splice(0).reverse(), ...helperSteps]) await bounded(step);
    await sweep();
  })();
  return cleaning;
}

let ending = false;

function end(code: number): void {
  void cleanup().finally(() => process.exit(code));
}

/** Runs a bench's main: on every way out, `cleanup()` first, then exit (0 when main resolved). */
export function runBench(main: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const code = 128 + (os.constants.signals[signal] ?? 0);
      if (ending) {
        console.error(`\nbench: ${signal} again, killing what is left now`);
        killAll(processesOfThisRun(), 'SIGKILL');
        process.exit(code);
      }
      ending = true;
      console.error(`\nbench: ${signal}, stopping everything it started…`);
      end(code);
    });
  }
  const fail = (error: unknown) => {
    if (ending) return;
    ending = true;
    console.error(error);
    end(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // Last resort when something calls process.exit() before cleanup ran: no orderly stop is
  // possible in an 'exit' handler, but the sweep's kill is synchronous.
  process.on('exit', () => {
    if (!cleaning) killAll(processesOfThisRun(), 'SIGKILL');
  });
  main().then(() => {
    if (ending) return;
    ending = true;
    end(0);
  }, fail);
}
