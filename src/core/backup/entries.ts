import { certificateKeyName } from '../certificates/store';
import { NODE_CREDENTIAL } from '../controlPlaneClient';
import { CREDENTIAL_ENCRYPTION_KEY } from '../credentialCipher';
import { vaultEntryFor } from '../jobs/credentialStore';
import { PEER_SYNC_KEY } from '../peerSeal';
import { PROXY_PASSWORD } from '../proxyService';

/** Every vault entry a backup carries, in one place. */
export const FIXED_BACKUP_VAULT_ENTRIES = [
  /** The node's identity towards the control plane. */
  NODE_CREDENTIAL,
  PROXY_PASSWORD,
  /** The key remote-access clients' credentials are encrypted with. */
  CREDENTIAL_ENCRYPTION_KEY,
  /** This node's key for sealing credential sync with its peers. */
  PEER_SYNC_KEY,
] as const;

/**
 * Entries bound to the registration: removed by unregister, replaced by a
 * restore. Proxy password, certificate keys and data store credentials
 * belong to the machine and stay.
 */
export const REGISTRATION_BOUND_VAULT_ENTRIES = [
  NODE_CREDENTIAL,
  CREDENTIAL_ENCRYPTION_KEY,
  PEER_SYNC_KEY,
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

export function parseObject(text: string | null | undefined): Record<string, unknown> | null {
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
