import path from 'node:path';
import type { SafeStorage } from 'electron';
import type { VaultBackend } from '../shared/contract';
import { SealedFileVault, type Sealer } from '../core/vault/sealedFile';
import type { SecretVault } from '../core/vault';

type SafeStorageApi = Pick<
  SafeStorage,
  'isEncryptionAvailable' | 'encryptString' | 'decryptString' | 'getSelectedStorageBackend'
>;

/**
 * Electron's safeStorage (DPAPI, Keychain, or libsecret/KWallet on Linux).
 * Electron 41 has only the synchronous API; it is wrapped in the async vault
 * interface so an async API can replace it without touching callers.
 *
 * Returns null when safeStorage would not protect anything: unavailable, or
 * on Linux the `basic_text` backend (a hard-coded key). The core then uses the
 * Secret Service directly or the encrypted file, and reports which.
 */
export function safeStorageVault(
  safeStorage: SafeStorageApi,
  vaultDir: string,
  platform: NodeJS.Platform = process.platform,
): SecretVault | null {
  if (!safeStorage.isEncryptionAvailable()) return null;
  let detail = platform === 'darwin' ? 'Keychain' : platform === 'win32' ? 'DPAPI' : 'unknown';
  if (platform === 'linux') {
    const selected = safeStorage.getSelectedStorageBackend();
    if (selected === 'basic_text' || selected === 'unknown') return null;
    detail = selected === 'gnome_libsecret' ? 'libsecret' : selected;
  }
  const backend: VaultBackend = {
    id: 'electron-safe-storage',
    label: `Electron safeStorage (${detail})`,
    strength: 'strong',
    description: `Secrets are encrypted by Electron safeStorage with a key protected by the OS (${detail}) for the user running OpenIR.`,
  };
  const sealer: Sealer = {
    // The entry name is sealed with the value so one entry cannot be swapped for another.
    seal: async (name, plaintext) =>
      safeStorage.encryptString(JSON.stringify([name, plaintext])).toString('base64'),
    unseal: async (name, sealed) => {
      const [sealedName, plaintext] = JSON.parse(
        safeStorage.decryptString(Buffer.from(sealed, 'base64')),
      ) as [string, string];
      if (sealedName !== name) throw new Error('sealed entry belongs to another name');
      return plaintext;
    },
  };
  return new SealedFileVault(path.join(vaultDir, 'safe-storage.json'), sealer, backend);
}
