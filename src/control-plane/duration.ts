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
