import { describe, expect, it } from 'vitest';
import { formatDuration, formatElapsed, parseExpireAfter } from '../../src/control-plane/duration';

describe('--expire-offline-after durations', () => {
  it('reads minutes, hours, days (and seconds), and off', () => {
    expect(parseExpireAfter('30m')).toBe(30 * 60_000);
    expect(parseExpireAfter('2h')).toBe(7_200_000);
    expect(parseExpireAfter(' 7D ')).toBe(7 * 86_400_000);
    expect(parseExpireAfter('90s')).toBe(90_000);
    expect(parseExpireAfter('off')).toBeNull();
  });

  it('refuses what is not a duration, zero, and more than a year, naming the flag', () => {
    for (const bad of ['', '30', '2 h', '1.5h', '0m', '366d', '-1h', 'never']) {
      expect(() => parseExpireAfter(bad)).toThrow(/--expire-offline-after must be a duration like 30m/);
    }
  });

  it('writes a setting back the shortest exact way, and an elapsed time to two units', () => {
    expect(formatDuration(7_200_000)).toBe('2h');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(7 * 86_400_000)).toBe('7d');
    expect(formatElapsed(7_263_000)).toBe('2h 1m');
    expect(formatElapsed(3_400)).toBe('3s');
    expect(formatElapsed(90_061_000)).toBe('1d 1h');
    expect(formatElapsed(0)).toBe('0s');
  });
});
