import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface SystemSample {
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

/** CPU use of the whole machine since the previous sample, as the reference product's Home shows it. */
export class SystemMetrics {
  private last = totals();

  sample(): SystemSample {
    const now = totals();
    const busy = now.busy - this.last.busy;
    const all = now.all - this.last.all;
    this.last = now;
    const total = os.totalmem();
    return {
      cpuPercent: all > 0 ? Math.min(100, Math.max(0, Math.round((busy / all) * 1000) / 10)) : 0,
      memoryUsedBytes: total - os.freemem(),
      memoryTotalBytes: total,
    };
  }
}

function totals(): { busy: number; all: number } {
  let busy = 0;
  let all = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    const sum = t.user + t.nice + t.sys + t.idle + t.irq;
    all += sum;
    busy += sum - t.idle;
  }
  return { busy, all };
}

/** PRODUCT.md: the default concurrent jobs limit is chosen from cores and memory. */
export function defaultConcurrentJobsLimit(): number {
  const byCores = os.cpus().length * 2;
  const byMemory = Math.floor(os.totalmem() / (512 * 1024 * 1024));
  return Math.max(1, Math.min(byCores, byMemory, 64));
}

/** What a heartbeat adds for monitoring; the network counters are absent where the OS gives none cheaply. */
export interface HostCounters {
  memoryAvailableBytes: number;
  networkSentBytes?: number;
  networkReceivedBytes?: number;
}

/**
 * Memory available and the machine's network byte counters, for the control
 * plane's time series. Node's freemem() is MemAvailable on Linux (what new
 * work can get without swapping), not MemFree. The network counters are the
 * totals of /proc/net/dev since boot over every interface but loopback, so a
 * node's figure includes the rest of the machine's traffic: per-process
 * counters exist on no OS cheaply. macOS and Windows: omitted (the control
 * plane shows "-"). OPENIR_METRICS_INCLUDE_LOOPBACK=1 (test-only) counts
 * loopback too, so a test whose data servers all run on 127.0.0.1 sees its
 * copy move the counters.
 */
export function hostCounters(procNetDev = '/proc/net/dev'): HostCounters {
  const counters: HostCounters = { memoryAvailableBytes: os.freemem() };
  if (process.platform !== 'linux') return counters;
  try {
    const totals = parseProcNetDev(
      readFileSync(procNetDev, 'utf8'),
      process.env.OPENIR_METRICS_INCLUDE_LOOPBACK === '1',
    );
    counters.networkSentBytes = totals.sent;
    counters.networkReceivedBytes = totals.received;
  } catch {
    // A container without /proc/net: the heartbeat goes without network figures.
  }
  return counters;
}

/** Sums the receive and transmit byte columns of /proc/net/dev, skipping `lo` unless asked. */
export function parseProcNetDev(text: string, includeLoopback = false): { sent: number; received: number } {
  let sent = 0;
  let received = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || (name === 'lo' && !includeLoopback)) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes ...
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) continue;
    received += rx;
    sent += tx;
  }
  return { sent, received };
}
