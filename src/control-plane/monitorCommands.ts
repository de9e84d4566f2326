import { get as httpsGet } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { OpenIrError, isOpenIrError, type ErrorBody } from '../shared/errors';
import { publicKeyPin } from './tls';
import type { CommandResult } from './admin';
import { ADMIN_API_PREFIX } from './adminApi';
import { ADMIN_TOKEN_FILE } from './factories';
import { table } from './format';
import { IrMetricsSchema, type IrMetrics } from './monitoring';

/** Gets an IR's metrics (GET /api/v1/admin/irs/{name}/metrics); injected, so the lead can wire the API client. */
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

export interface LocalServer {
  /** What the running server recorded (service identity): where it listens and its TLS pin. */
  endpoint: string;
  pin: string;
  dataDir: string;
}

/**
 * The metrics of an IR from the control plane on this machine, with the
 * instance-admin token from its data directory. The server's certificate is
 * checked against the pin it recorded (it is usually self-signed). Until the
 * admin CLI is an API client throughout (issue 17 item 2), this is how
 * `ir monitor` reaches the server: the series lives in the server's memory.
 */
export function localFetch(server: LocalServer): FetchIrMetrics {
  return (ir) =>
    new Promise((resolve, reject) => {
      let token: string;
      try {
        token = readFileSync(path.join(server.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
      } catch {
        reject(
          new OpenIrError(
            'CONTROL_PLANE_UNREACHABLE',
            'The control plane has not started in this data directory yet.',
            {
              fix: 'Start it with `openir-control-plane serve`.',
            },
          ),
        );
        return;
      }
      const url = new URL(`${ADMIN_API_PREFIX}/irs/${encodeURIComponent(ir)}/metrics`, server.endpoint);
      const request = httpsGet(
        url,
        {
          rejectUnauthorized: false,
          agent: false,
          timeout: 10_000,
          headers: { authorization: `Bearer ${token}` },
        },
        (response) => {
          const peer = (response.socket as TLSSocket).getPeerCertificate();
          if (!peer?.raw || publicKeyPin(new X509Certificate(peer.raw).toString()) !== server.pin) {
            response.destroy();
            reject(
              new OpenIrError(
                'CONTROL_PLANE_TLS_PIN_MISMATCH',
                `The server at ${server.endpoint} is not this control plane (TLS pin mismatch).`,
                {
                  fix: 'Check that the control plane of this data directory is the one running there.',
                },
              ),
            );
            return;
          }
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            try {
              const body = JSON.parse(text) as { error?: ErrorBody };
              if (response.statusCode !== 200) {
                const error = body.error;
                reject(
                  new OpenIrError(
                    error?.code ?? 'CONTROL_PLANE_ERROR',
                    error?.message ?? `HTTP ${response.statusCode}`,
                    error?.fix ? { fix: error.fix } : {},
                  ),
                );
                return;
              }
              resolve(IrMetricsSchema.parse(body));
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', (error) =>
        reject(
          new OpenIrError(
            'CONTROL_PLANE_UNREACHABLE',
            `The control plane at ${server.endpoint} did not answer: ${error.message}.`,
            {
              fix: 'Start it with `openir-control-plane serve`, or check that it is running.',
            },
          ),
        ),
      );
    });
}
