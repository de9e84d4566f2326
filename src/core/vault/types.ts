import type { VaultBackend } from '../../shared/contract';

/** Holds the node's secrets (node credential, later proxy password, certificate keys, data store credentials). */
export interface SecretVault {
  readonly backend: VaultBackend;
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

export const VAULT_BACKENDS = {
  'secret-service': {
    id: 'secret-service',
    label: 'Secret Service (GNOME Keyring / KWallet)',
    strength: 'strong',
    description:
      "Secrets are encrypted by the desktop keyring of the user running OpenIR, unlocked with the user's login.",
  },
  keychain: {
    id: 'keychain',
    label: 'macOS Keychain',
    strength: 'strong',
    description: 'Secrets are stored in the login keychain of the user running OpenIR.',
  },
  dpapi: {
    id: 'dpapi',
    label: 'Windows Credential Manager (DPAPI)',
    strength: 'strong',
    description: 'Secrets are protected by DPAPI for the account running OpenIR.',
  },
  'encrypted-file': {
    id: 'encrypted-file',
    label: 'Encrypted file (weaker)',
    strength: 'weak',
    description:
      'No OS keyring answered, so secrets are encrypted with AES-256-GCM under a key kept in a 0600 file in the data directory. ' +
      'Anyone who can read the data directory as this user can decrypt them. Run a Secret Service (e.g. gnome-keyring) for OS protection.',
  },
} as const satisfies Record<string, VaultBackend>;

export type VaultBackendId = keyof typeof VAULT_BACKENDS;
