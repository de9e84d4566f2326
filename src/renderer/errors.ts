import type { ErrorBody } from '../shared/errors';

/** What the UI shows of any failure: the host's code, message and fix, or a generic one. */
export type UiError = ErrorBody;

export function toUiError(error: unknown): UiError {
  if (typeof error === 'object' && error !== null) {
    const { code, message, fix } = error as { code?: unknown; message?: unknown; fix?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      return { code: code as ErrorBody['code'], message, ...(typeof fix === 'string' ? { fix } : {}) };
    }
    if (error instanceof Error) return { code: 'INTERNAL', message: error.message };
  }
  return { code: 'INTERNAL', message: 'Something went wrong in the Configuration Manager.' };
}
