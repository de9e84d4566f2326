import { certificateKeyName } from '../certificates/store';
import { vaultEntryFor } from '../jobs/credentialStore';

/**
 * Every vault entry a backup carries, in one place. The fixed names are
 * literals here (not imports) because host.ts imports the backup module; the
 * tests check they match the constants of their owners.
 */
export const FIXED_BACKUP_VAULT_ENTRIES = [
  /** NODE_CREDENTIAL in host.ts: the node's identity towards the control plane. */
  'node-credential',
  /** PROXY_PASSWORD in proxyService.ts. */
  'proxy-password',
  /** KEY_NAME in credentialCipher.ts: the key remote-access clients' credentials are encrypted with. */
  'credential-encryption-key',
  /** The key peers of the IR share to sync with each other (absent until that feature writes it). */
  'peer-sync-key',
] as const;

/**
 * Entries bound to the registration: removed by unregister, replaced by a
 * restore. Proxy password, certificate keys and data store credentials
 * belong to the machine and stay.
 */
export const REGISTRATION_BOUND_VAULT_ENTRIES = [
  'node-credential',
  'credential-encryption-key',
  'peer-sync-key',
] as const;

/** The data files (relative to the data directory) a backup carries besides config.json. */
export const BACKUP_DATA_FILES = ['credentials.json', 'certificates/store.json'] as const;
export type BackupDataFile = (typeof BACKUP_DATA_FILES)[number];

/**
 * The per-item vault entries named by the data files: each data store
 * credential's secrets and each stored certificate's private key. Read
 * loosely (only the fields that name entries) so files written by newer
 * versions with more fields still back up whole.
 */
export function dynamicVaultEntries(files: Partial<Record<BackupDataFile, string | null>>): string[] {
  const names: string[] = [];
  const credentials = parseObject(files['credentials.json']);
  const records = credentials?.credentials;
  if (records && typeof records === 'object' && !Array.isArray(records)) {
    for (const name of Object.keys(records)) names.push(vaultEntryFor(name));
  }
  const store = parseObject(files['certificates/store.json']);
  if (Array.isArray(store?.certificates)) {
    for (const entry of store.certificates as unknown[]) {
      const thumbprint = (entry as { thumbprintSha256?: unknown } | null)?.thumbprintSha256;
      if (typeof thumbprint === 'string') names.push(certificateKeyName(thumbprint));
    }
  }
  return names;
}

/** All vault entries worth carrying for these files: fixed, then per item, without duplicates. */
export function backupVaultEntries(files: Partial<Record<BackupDataFile, string | null>>): string[] {
  return [...new Set<string>([...FIXED_BACKUP_VAULT_ENTRIES, ...dynamicVaultEntries(files)])];
}

function parseObject(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
