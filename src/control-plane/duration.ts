import { OpenIrError } from '../shared/errors';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
/** A year: past that, "off" says what is meant. */
const MAX_MS = 365 * UNIT_MS.d;

/**
 * `--expire-offline-after`: `30m`, `2h`, `7d` (seconds, `90s`, exist for
 * tests and short-lived labs), or `off`; null means off.
 */
export function parseExpireAfter(text: string): number | null {
  const value = text.trim().toLowerCase();
  if (value === 'off') return null;
  const match = /^(\d{1,6})([smhd])$/.exec(value);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as Unit] : Number.NaN;
  if (!Number.isFinite(ms) || ms < 1_000 || ms > MAX_MS) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `--expire-offline-after must be a duration like 30m, 2h or 7d (at most 365d), or off; not '${text}'.`,
      { fix: 'For example: --expire-offline-after 2h. Use off to keep Offline nodes until you remove them.' },
    );
  }
  return ms;
}

/** The shortest exact writing of a duration: 7200000 → "2h", 90000 → "90s". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** An elapsed time for a log line, to its two largest units: 7263000 → "2h 1m", 3400 → "3s". */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(total / 86_400), 'd'],
    [Math.floor((total % 86_400) / 3_600), 'h'],
    [Math.floor((total % 3_600) / 60), 'm'],
    [total % 60, 's'],
  ];
  const shown = parts.filter(([value]) => value > 0).slice(0, 2);
  return shown.length === 0 ? '0s' : shown.map(([value, unit]) => `${value}${unit}`).join(' ');
}
