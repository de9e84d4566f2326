import type { OpenIrApi } from '../../../shared/api';
import type { CreateDiagnosticsBundleOutput } from '../../../shared/diagnosticsBundle';
import { attempt, type Outcome } from '../../state/outcome';
import type { Slice } from '../../state/slice';

export interface DiagnosticsBundleSlice {
  /** The zip comes back as base64 for the page to save; it is not kept in the store. */
  createDiagnosticsBundle(send: boolean): Promise<Outcome<CreateDiagnosticsBundleOutput>>;
}

export const createDiagnosticsBundleSlice =
  (api: Pick<OpenIrApi, 'createDiagnosticsBundle'>): Slice<DiagnosticsBundleSlice> =>
  () => ({
    createDiagnosticsBundle: (send) => attempt(() => api.createDiagnosticsBundle(send ? { send: true } : {})),
  });
