/** Time source, injected so status derivation and timestamps can be tested without waiting. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
