import type { UiError } from '../errors';
import { NewestOnly } from './newestOnly';
import { attempt, type Outcome } from './outcome';

/** Something the host holds, as the UI has it: null until the first answer; the last load's failure. */
export interface Loaded<T> {
  value: T | null;
  loadError: UiError | null;
}

export const NOT_LOADED: Loaded<never> = { value: null, loadError: null };

/**
 * A resource loaded from the host and kept current by its change event: `refresh` loads it (on connect,
 * on reconnect, on Try again), `receive` takes a pushed event, `apply` takes the result of a change made
 * here. Answers can overtake each other (a slow load after an event, a save's result after a load), so
 * only the newest request's answer is written; an event makes every load under way stale.
 */
export interface HostResource<T> {
  refresh(): Promise<void>;
  receive(value: T): void;
  /** Runs a change whose answer is the new value; writes it unless something newer arrived meanwhile. */
  apply<R extends T>(run: () => Promise<R>): Promise<Outcome<R>>;
}

export function hostResource<T>(
  load: () => Promise<T>,
  write: (patch: Partial<Loaded<T>>) => void,
): HostResource<T> {
  const order = new NewestOnly();
  return {
    refresh() {
      return order.load(
        load,
        (value) => write({ value, loadError: null }),
        (loadError) => write({ loadError }),
      );
    },
    receive(value) {
      order.supersede();
      write({ value, loadError: null });
    },
    async apply(run) {
      const newest = order.start();
      const outcome = await attempt(run);
      if (outcome.ok && newest()) write({ value: outcome.value, loadError: null });
      return outcome;
    },
  };
}

/** Writes a patch into one object-valued field of the state, e.g. `nested(set, 'proxy')`. */
export function nested<S, K extends keyof S>(
  set: (update: (state: S) => Partial<S>) => void,
  key: K,
): (patch: Partial<S[K]>) => void {
  return (patch) => set((state) => ({ [key]: { ...state[key], ...patch } }) as Partial<S>);
}
