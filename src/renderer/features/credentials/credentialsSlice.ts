import type { OpenIrApi } from '../../../shared/api';
import type { OperationOutput } from '../../../shared/contract';
import type { CredentialTestReport, TestCredentialInput } from '../../../shared/credentialTest';
import type { CredentialInput, CredentialView } from '../../../shared/credentials';
import { attempt, type Outcome } from '../../state/outcome';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import type { Slice } from '../../state/slice';

export type CredentialList = OperationOutput<'listCredentials'>;

export interface CredentialsSlice {
  /**
   * Names and non-secret fields only; a secret never reaches the UI (only whether one is saved). Pushed by
   * `credentialsChanged` (a change here, from the CLI, synced from a peer or restored).
   */
  credentials: Loaded<CredentialList>;
  refreshCredentials(): Promise<void>;
  receiveCredentials(list: CredentialList): void;
  /** Secrets in `input` are passed through to the host, never kept in the store. */
  saveCredential(input: CredentialInput): Promise<Outcome<CredentialView>>;
  deleteCredential(name: string): Promise<Outcome<CredentialView>>;
  /** Test connection of a saved credential or of the dialog's unsaved form; secrets pass through, never kept. */
  testCredential(input: TestCredentialInput): Promise<Outcome<CredentialTestReport>>;
}

export const createCredentialsSlice =
  (
    api: Pick<OpenIrApi, 'listCredentials' | 'setCredential' | 'deleteCredential' | 'testCredential'>,
  ): Slice<CredentialsSlice> =>
  (set) => {
    const list = hostResource(() => api.listCredentials({}), nested(set, 'credentials'));
    return {
      credentials: NOT_LOADED,
      refreshCredentials: list.refresh,
      receiveCredentials: list.receive,
      saveCredential: (input) => attempt(() => api.setCredential(input)),
      deleteCredential: (name) => attempt(() => api.deleteCredential({ name })),
      testCredential: (input) => attempt(() => api.testCredential(input)),
    };
  };
