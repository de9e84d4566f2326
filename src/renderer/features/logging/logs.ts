import { LOG_LEVELS, type LogEntry, type LogLevel } from '../../../shared/contract';

/** The log viewer keeps at most this many entries; older ones fall off the top. */
export const LOG_CAP = 2000;
/** Entries shown under "Recent events" on Home. */
export const RECENT_CAP = 10;

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

export function atLeast(entry: LogEntry, minLevel: LogLevel): boolean {
  return levelRank(entry.level) >= levelRank(minLevel);
}

const keyOf = (entry: LogEntry): string => `${entry.time}|${entry.level}|${entry.source}|${entry.message}`;

/** The entries of `extra` that `base` does not hold. */
export function missingFrom(base: readonly LogEntry[], extra: readonly LogEntry[]): LogEntry[] {
  const seen = new Set(base.map(keyOf));
  return extra.filter((entry) => !seen.has(keyOf(entry)));
}

/**
 * Adds entries that `base` does not have yet, in time order, keeping the newest `cap`.
 * Entries carry no id, so an entry fetched and also pushed as an event is recognised by its content.
 */
export function mergeLogs(base: readonly LogEntry[], extra: readonly LogEntry[], cap: number): LogEntry[] {
  if (extra.length === 0) return base.length > cap ? base.slice(-cap) : (base as LogEntry[]);
  const seen = new Set(base.map(keyOf));
  const added = extra.filter((entry) => {
    const key = keyOf(entry);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (added.length === 0) return base as LogEntry[];
  const merged = [...base, ...added];
  const last = base[base.length - 1];
  if (last && added.some((entry) => entry.time < last.time)) {
    // Stable: entries of the same instant keep their arrival order.
    merged.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }
  return merged.length > cap ? merged.slice(-cap) : merged;
}

export function appendCapped<T>(list: readonly T[], item: T, cap: number): T[] {
  const next = list.length >= cap ? list.slice(list.length - cap + 1) : list.slice();
  next.push(item);
  return next;
}

function fieldsText(entry: LogEntry): string {
  if (!entry.fields || Object.keys(entry.fields).length === 0) return '';
  return ` ${JSON.stringify(entry.fields)}`;
}

/** One line per entry, as a person would paste it into a ticket. */
export function formatLogLine(entry: LogEntry): string {
  return `${entry.time} ${entry.level.toUpperCase().padEnd(5)} [${entry.source}] ${entry.message}${fieldsText(entry)}`;
}

export function logsAsText(entries: readonly LogEntry[]): string {
  return entries.map(formatLogLine).join('\n') + (entries.length > 0 ? '\n' : '');
}

export function logsAsJsonLines(entries: readonly LogEntry[]): string {
  return entries.map((entry) => JSON.stringify(entry)).join('\n') + (entries.length > 0 ? '\n' : '');
}

export function matchesSearch(entry: LogEntry, needle: string): boolean {
  if (needle === '') return true;
  const lower = needle.toLowerCase();
  return (
    entry.message.toLowerCase().includes(lower) ||
    entry.source.toLowerCase().includes(lower) ||
    (entry.fields !== undefined && JSON.stringify(entry.fields).toLowerCase().includes(lower))
  );
}
