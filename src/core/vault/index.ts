import { OpenIrError } from '../../shared/errors';
import type { ConfigStore } from '../config';
import type { SourceLogger } from '../logger';
import { FileVault } from './fileVault';
import { OsKeyringVault } from './osKeyringVault';
import type { SecretVault } from './types';

export type { SecretVault } from './types';
export { FileVault } from './fileVault';
export { OsKeyringVault } from './osKeyringVault';
export { VAULT_BACKENDS } from './types';

export interface OpenVaultOptions {
  home: string;
  vaultDir: string;
  config: ConfigStore;
  log: SourceLogger;
  /** `OPENIR_VAULT`: "os" requires the OS keyring, "file" forces the encrypted file; unset chooses. */
  preference?: string | undefined;
  /** Another strong backend offered by the face on top (Electron safeStorage). Tried first. */
  preferred?: SecretVault | undefined;
  /** The OS keyring to try; injectable so a keyring that stops answering can be tested. */
  osVault?: (SecretVault & { probe(): Promise<boolean> }) | undefined;
}

/**
 * Chooses where the node's secrets live and records the choice in config.
 * Once recorded, the choice is kept: if that backend stops answering we fail
 * with VAULT_UNAVAILABLE rather than quietly writing secrets somewhere weaker.
 */
export async function openVault(options: OpenVaultOptions): Promise<SecretVault> {
  const { config, log } = options;
  const recorded = (await config.load()).vaultBackend;
  const os = options.osVault ?? new OsKeyringVault(options.home);
  const file = new FileVault(options.vaultDir);

  if (options.preferred && (recorded === null || recorded === options.preferred.backend.id)) {
    return remember(options.preferred, recorded, config);
  }
  if (recorded === file.backend.id) return file;
  if (recorded === os.backend.id) {
    if (await os.probe()) return os;
    throw new OpenIrError(
      'VAULT_DOWNGRADE_REFUSED',
      `This node's secrets are in the ${os.backend.label}, which is not answering.`,
      {
        fix: 'Start and unlock the keyring for this user (on Linux: a Secret Service such as gnome-keyring), then start OpenIR again. OpenIR will not move secrets to a weaker store on its own.',
      },
    );
  }
  if (recorded !== null) {
    throw new OpenIrError(
      'VAULT_UNAVAILABLE',
      `This node's secrets are in the "${recorded}" store, which this face of OpenIR cannot open.`,
      {
        fix: 'Run OpenIR the way it was registered (desktop or headless).',
      },
    );
  }
  if (options.preference === 'file') return remember(file, recorded, config);
  if (await os.probe()) return remember(os, recorded, config);
  if (options.preference === 'os') {
    throw new OpenIrError(
      'VAULT_UNAVAILABLE',
      `OPENIR_VAULT=os was set but the ${os.backend.label} is not answering.`,
      {
        fix: 'Start and unlock the keyring, or unset OPENIR_VAULT to allow the encrypted-file backend.',
      },
    );
  }
  log.warn('No OS keyring answered; secrets will be kept in the weaker encrypted-file vault.', {
    backend: file.backend.id,
  });
  return remember(file, recorded, config);
}

async function remember(
  vault: SecretVault,
  recorded: string | null,
  config: ConfigStore,
): Promise<SecretVault> {
  if (recorded !== vault.backend.id) {
    await config.update((draft) => {
      draft.vaultBackend = vault.backend.id;
    });
  }
  return vault;
}
