import { createHash } from 'node:crypto';
import { AsyncEntry, type EntryOptions } from '@napi-rs/keyring';
import { OpenIrError } from '../../shared/errors';
import { VAULT_BACKENDS, type SecretVault } from './types';

const KEYRING_TIMEOUT_MS = 5000;

function backendFor(platform: NodeJS.Platform) {
  if (platform === 'darwin') return VAULT_BACKENDS.keychain;
  if (platform === 'win32') return VAULT_BACKENDS.dpapi;
  return VAULT_BACKENDS['secret-service'];
}

/**
 * The OS keyring through @napi-rs/keyring. On Linux the entry is pinned to the
 * Secret Service: the library's default silently falls back to the kernel
 * keyring, which is lost on reboot, and we never want to store there by accident.
 */
export class OsKeyringVault implements SecretVault {
  readonly backend;
  private readonly service: string;
  private readonly options: EntryOptions;

  constructor(home: string, platform: NodeJS.Platform = process.platform) {
    this.backend = backendFor(platform);
    // One service per data directory, so several nodes on one machine never share secrets.
    this.service = `OpenIR node ${createHash('sha256').update(home).digest('hex').slice(0, 12)}`;
    this.options = { linux: { store: 'secret-service' } };
  }

  /** True when the OS keyring answers a write, read and delete round trip. */
  async probe(): Promise<boolean> {
    try {
      const value = `probe-${Date.now()}`;
      await this.set('openir-probe', value);
      const read = await this.get('openir-probe');
      await this.delete('openir-probe');
      return read === value;
    } catch {
      return false;
    }
  }

  async get(name: string): Promise<string | null> {
    return this.call('read', name, (entry, signal) => entry.getPassword(signal));
  }

  async set(name: string, value: string): Promise<void> {
    await this.call('write', name, (entry, signal) => entry.setPassword(value, signal));
  }

  async delete(name: string): Promise<void> {
    await this.call('delete', name, (entry, signal) => entry.deleteCredential(signal));
  }

  private async call<T>(
    what: string,
    name: string,
    fn: (entry: AsyncEntry, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    try {
      const entry = new AsyncEntry(this.service, name, this.options);
      return await fn(entry, AbortSignal.timeout(KEYRING_TIMEOUT_MS));
    } catch (error) {
      throw new OpenIrError('VAULT_UNAVAILABLE', `Could not ${what} a secret in the ${this.backend.label}.`, {
        fix: 'Make sure the keyring is running and unlocked for this user, then try again.',
        cause: error,
      });
    }
  }
}
