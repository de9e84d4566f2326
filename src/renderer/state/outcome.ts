import { toUiError, type UiError } from '../errors';

/** The outcome of an operation whose progress and errors belong to the form that started it. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: UiError };

/** Runs an operation; its failure becomes a value, in the words the UI shows. */
export async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error: toUiError(error) };
  }
}
