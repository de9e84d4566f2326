import { isOpenIrError, type ErrorBody } from '../shared/errors';
import type { CommandResult } from './admin';
import { table } from './format';
import type { IrMetrics } from './monitoring';

/** Gets an IR's metrics (GET /api/v1/admin/irs/{name}/metrics); injected: the CLI's API client, or a test's. */
export type FetchIrMetrics = (ir: string) => Promise<IrMetrics>;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

const rate = (bytesPerSecond: number | null) =>
  bytesPerSecond === null ? '-' : `${formatBytes(bytesPerSecond)}/s`;

/** One screen of `ir monitor`: a row per node from its last heartbeat, and the IR's job counts. */
export function monitorTable(metrics: IrMetrics): CommandResult {
  const header =
    metrics.nodesOf === metrics.ir
      ? `IR ${metrics.ir}`
      : `IR ${metrics.ir} (nodes of shared IR ${metrics.nodesOf}, read-only)`;
  const rows = metrics.nodes.map((node) => {
    const l = node.latest;
    return [
      node.name,
      node.status,
      l ? `${l.cpuPercent.toFixed(1)}%` : '-',
      l ? `${formatBytes(l.memoryUsedBytes)} / ${formatBytes(l.memoryTotalBytes)}` : '-',
      l ? formatBytes(l.memoryAvailableBytes) : '-',
      l ? rate(l.networkReceivedBytesPerSecond) : '-',
      l ? rate(l.networkSentBytesPerSecond) : '-',
      l ? formatBytes(l.networkSentBytesTotal) : '-',
      l ? `${l.runningJobs}/${l.jobLimit}` : '-',
      l ? l.at.slice(11, 19) : '-',
    ];
  });
  const text = [
    `${header}  jobs: ${metrics.jobs.running} running, ${metrics.jobs.queued} queued, ${metrics.jobs.failed} failed`,
    table(
      [
        'NODE',
        'STATUS',
        'CPU',
        'MEMORY USED',
        'AVAILABLE',
        'NET IN',
        'NET OUT',
        'SENT TOTAL',
        'JOBS',
        'LAST HEARTBEAT',
      ],
      rows,
    ),
  ].join('\n');
  return { json: metrics, text };
}

export interface MonitorOptions {
  fetch: FetchIrMetrics;
  ir: string;
  /** Print one table (or one JSON document) and return. */
  once: boolean;
  json: boolean;
  write(text: string): void;
  /** Resolves when the operator stops the live view (Ctrl-C). */
  stopped: Promise<void>;
}

/**
 * `ir monitor <name>`: a live table refreshed every heartbeat interval (the
 * interval the control plane reports), until stopped; with `once`, one table.
 * A failed refresh is shown and retried at the next tick rather than ending
 * the view: a control plane restart should not need the operator to come back.
 */
export async function runMonitor(options: MonitorOptions): Promise<void> {
  const first = await options.fetch(options.ir);
  const show = (metrics: IrMetrics, live: boolean) => {
    const body = options.json ? JSON.stringify(metrics) : monitorTable(metrics).text;
    // A live table redraws in place (clear screen, cursor home); JSON goes one document per line.
    options.write(live && !options.json ? `\x1b[2J\x1b[H${body}\n` : `${body}\n`);
  };
  if (options.once) {
    options.write(options.json ? `${JSON.stringify(first, null, 2)}\n` : `${monitorTable(first).text}\n`);
    return;
  }
  show(first, true);
  let stop = false;
  void options.stopped.then(() => (stop = true));
  const intervalMs = Math.max(500, first.heartbeatIntervalMs);
  while (!stop) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, intervalMs)), options.stopped]);
    if (stop) break;
    try {
      show(await options.fetch(options.ir), true);
    } catch (error) {
      const body: ErrorBody | null = isOpenIrError(error) ? error.toBody() : null;
      options.write(`${body ? `${body.code}: ${body.message}` : String(error)} (retrying)\n`);
    }
  }
}
