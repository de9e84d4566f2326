/** Figures the benches share: medians, ratios of runs that ran side by side, CPU seconds. */
import fs from 'node:fs';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/**
 * The median of each run's own ratio `ours[i] / reference[i]`. The two sides
 * of a run ran back to back, so a busy moment of a shared machine (the rates
 * here vary by half from one run to the next) weighs on both, where a ratio
 * of the two medians could pair a quiet run with a busy one.
 */
export function medianRatio(ours: readonly number[], reference: readonly number[]): number {
  return median(ours.map((value, i) => value / (reference[i] ?? NaN)));
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux);
 * NaN when it is gone. `self-children`: this process's children that have
 * ended (a native client timed to its exit).
 */
export function cpuSecondsOf(pid: number | 'self-children'): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid === 'self-children' ? 'self' : pid}/stat`, 'utf8');
    // Fields after the command's ")": utime is 14th, stime 15th, cutime 16th, cstime 17th (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks =
      pid === 'self-children'
        ? Number(fields[13]) + Number(fields[14])
        : Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
