import os from 'node:os';

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
