import path from 'node:path';
import type { SafeStorage } from 'electron';
import type { VaultBackend } from '../shared/contract';
import { SealedFileVault, type Sealer } from '../core/vault/sealedFile';
import type { SecretVault } from '../core/vault';

export type SafeStorageApi = Pick<
  SafeStorage,
  'isAsyncEncryptionAvailable' | 'encryptStringAsync' | 'decryptStringAsync' | 'getSelectedStorageBackend'
>;

/**
 * Electron's safeStorage (DPAPI, Keychain, or libsecret/KWallet on Linux),
 * through its asynchronous API (Electron ≥ 42; the synchronous one is
 * deprecated): it does not block the main process while the OS keyring
 * answers, and it says when a key was rotated so the entry is sealed again.
 *
 * Resolves to null when safeStorage would not protect anything: unavailable,
 * or on Linux the `basic_text` backend (a hard-coded key). The core then uses
 * the Secret Service directly or the encrypted file, and reports which.
 */
export async function safeStorageVault(
  safeStorage: SafeStorageApi,
  vaultDir: string,
  platform: NodeJS.Platform = process.platform,
): Promise<SecretVault | null> {
  if (!(await safeStorage.isAsyncEncryptionAvailable())) return null;
  let detail = platform === 'darwin' ? 'Keychain' : platform === 'win32' ? 'DPAPI' : 'unknown';
  if (platform === 'linux') {
    // Asked after the async encryptor started: before that, Linux may still answer `unknown`.
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
      (await safeStorage.encryptStringAsync(JSON.stringify([name, plaintext]))).toString('base64'),
    unseal: async (name, sealed) => {
      const opened = await safeStorage.decryptStringAsync(Buffer.from(sealed, 'base64'));
      const [sealedName, plaintext] = JSON.parse(opened.result) as [string, string];
      if (sealedName !== name) throw new Error('sealed entry belongs to another name');
      return { plaintext, reseal: opened.shouldReEncrypt };
    },
  };
  return new SealedFileVault(path.join(vaultDir, 'safe-storage.json'), sealer, backend);
}
