import { toUiError, type UiError } from '../errors';

/**
 * Answers to a slice's requests may arrive out of order (a slow load after a
 * save, an event while a load is under way); only the newest request's answer
 * is kept. One per slice and kind of request.
 */
export class NewestOnly {
  private seq = 0;

  /** Makes every request under way stale (an event or a save brought newer data). */
  supersede(): void {
    this.seq += 1;
  }

  /** Starts a request; the returned check says whether it is still the newest. */
  start(): () => boolean {
    const mine = ++this.seq;
    return () => mine === this.seq;
  }

  /** Loads with `run`, then hands the value or the error on, unless a newer request started meanwhile. */
  async load<T>(
    run: () => Promise<T>,
    onValue: (value: T) => void,
    onError: (error: UiError) => void,
  ): Promise<void> {
    const newest = this.start();
    try {
      const value = await run();
      if (newest()) onValue(value);
    } catch (error) {
      if (newest()) onError(toUiError(error));
    }
  }
}
