import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { BackupInfo } from '../../shared/backup';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import { migrateConfig, NodeConfigSchema, type ConfigStore, type NodeConfig } from '../config';
import type { SourceLogger } from '../logger';
import type { SecretVault } from '../vault';
import {
  BACKUP_DATA_FILES,
  backupVaultEntries,
  parseObject,
  REGISTRATION_BOUND_VAULT_ENTRIES,
  type BackupDataFile,
} from './entries';
import { openBackup, parseBackup, sealBackup, DEFAULT_SCRYPT, type ScryptParams } from './format';

/** What is inside the encrypted part. Files travel as their text, so fields added later survive. */
const PayloadSchema = z.object({
  kind: z.literal('openir-node-backup'),
  payloadVersion: z.literal(1),
  config: z.unknown(),
  files: z.record(z.string(), z.string().nullable()),
  secrets: z.record(z.string(), z.string()),
});
type Payload = z.infer<typeof PayloadSchema>;

export interface BackupServiceOptions {
  dataDir: string;
  config: ConfigStore;
  vault: SecretVault;
  version: string;
  log: SourceLogger;
  clock?: () => Date;
  /** Key derivation cost of new backups; the default is the strong one, tests may pass a cheaper one. */
  scrypt?: ScryptParams;
}

/** A backup checked and decrypted in full, ready to be written. */
export interface OpenedBackup {
  info: BackupInfo;
  config: NodeConfig;
  files: Record<BackupDataFile, string | null>;
  secrets: Record<string, string>;
}

/**
 * Makes and restores backups of one node: config.json, the data files and
 * every vault secret they need. Nothing here knows about the host's running
 * state; the host stops and reloads around `apply`.
 */
export class BackupService {
  constructor(private readonly options: BackupServiceOptions) {}

  async create(
    password: string,
  ): Promise<{ file: Buffer; info: BackupInfo; files: string[]; secrets: number }> {
    const config = await this.options.config.load();
    const files = await this.readFiles();
    const secrets: Record<string, string> = {};
    for (const name of backupVaultEntries(files)) {
      const value = await this.options.vault.get(name);
      if (value !== null) secrets[name] = value;
    }
    const payload: Payload = {
      kind: 'openir-node-backup',
      payloadVersion: 1,
      config,
      files,
      secrets,
    };
    const reg = config.registration;
    const identity = {
      productVersion: this.options.version,
      createdAt: this.now().toISOString(),
      node: reg ? { id: reg.nodeId, name: reg.nodeName, fqdn: reg.fqdn } : null,
      ir: reg ? { id: reg.irId, name: reg.irName } : null,
      controlPlane: reg ? reg.endpoint : null,
    };
    const plain = Buffer.from(JSON.stringify(payload), 'utf8');
    try {
      const file = await sealBackup(plain, identity, password, this.options.scrypt ?? DEFAULT_SCRYPT);
      const { info } = parseBackup(file);
      return {
        file,
        info,
        files: ['config.json', ...BACKUP_DATA_FILES.filter((name) => files[name] !== null)],
        secrets: Object.keys(secrets).length,
      };
    } finally {
      plain.fill(0);
    }
  }

  inspect(file: Buffer): BackupInfo {
    return parseBackup(file).info;
  }

  /** Decrypts and validates everything; writes nothing. */
  async open(file: Buffer, password: string): Promise<OpenedBackup> {
    const { info, payload } = await openBackup(file, password);
    let parsed: Payload;
    try {
      parsed = PayloadSchema.parse(JSON.parse(payload.toString('utf8')));
    } catch (cause) {
      throw corruptPayload('its content is not readable', cause);
    } finally {
      payload.fill(0);
    }
    const { config: migrated } = migrateConfig(parsed.config);
    const config = NodeConfigSchema.safeParse(migrated);
    if (!config.success)
      throw corruptPayload('its settings do not match this version of OpenIR', config.error);
    if ((config.data.registration?.nodeId ?? null) !== (info.node?.id ?? null)) {
      throw corruptPayload('its header and its content name different nodes');
    }
    const files = {} as Record<BackupDataFile, string | null>;
    for (const name of BACKUP_DATA_FILES) {
      const text = parsed.files[name] ?? null;
      if (text !== null && parseObject(text) === null) throw corruptPayload(`its ${name} is not readable`);
      files[name] = text;
    }
    return { info, config: config.data, files, secrets: parsed.secrets };
  }

  /**
   * Writes a backup over this node's state. Secrets first, then the data
   * files, then config.json (the registration) last; if any write fails,
   * everything written is put back as it was. Entries of the old state the
   * backup does not have are deleted only once all writes succeeded.
   */
  async apply(backup: OpenedBackup): Promise<void> {
    const { vault, config } = this.options;
    const oldFiles = await this.readFiles();
    const oldConfig = await config.load();
    const names = new Set([...backupVaultEntries(oldFiles), ...Object.keys(backup.secrets)]);
    // Read everything first: a vault that does not answer stops the restore before any write.
    const oldSecrets = new Map<string, string | null>();
    for (const name of names) oldSecrets.set(name, await vault.get(name));
    try {
      for (const [name, value] of Object.entries(backup.secrets)) await vault.set(name, value);
      for (const name of BACKUP_DATA_FILES) await this.writeFile(name, backup.files[name]);
      await config.update((draft) => {
        // The secret store is this machine's, not the backed-up one's.
        Object.assign(draft, structuredClone(backup.config), { vaultBackend: draft.vaultBackend });
      });
    } catch (error) {
      await this.rollback(oldSecrets, oldFiles, oldConfig);
      throw error;
    }
    for (const [name, value] of oldSecrets) {
      if (value !== null && !(name in backup.secrets)) {
        await vault.delete(name).catch((error: unknown) =>
          this.options.log.warn('Could not delete a vault entry the restored backup does not use.', {
            entry: name,
            cause: String(error),
          }),
        );
      }
    }
  }

  /** Forgets the registration: its vault entries, then the registration in config.json. */
  async clearRegistration(): Promise<void> {
    for (const name of REGISTRATION_BOUND_VAULT_ENTRIES) {
      if ((await this.options.vault.get(name)) !== null) await this.options.vault.delete(name);
    }
    await this.options.config.update((draft) => {
      draft.registration = null;
    });
  }

  private async rollback(
    secrets: Map<string, string | null>,
    files: Record<BackupDataFile, string | null>,
    config: NodeConfig,
  ): Promise<void> {
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (error) {
        problems.push(`${what}: ${String(error)}`);
      }
    };
    for (const [name, value] of secrets) {
      await attempt(name, () =>
        value === null
          ? this.options.vault.delete(name).catch(() => undefined)
          : this.options.vault.set(name, value),
      );
    }
    for (const name of BACKUP_DATA_FILES) await attempt(name, () => this.writeFile(name, files[name]));
    await attempt('config.json', () =>
      this.options.config.update((draft) => {
        Object.assign(draft, structuredClone(config));
      }),
    );
    if (problems.length > 0) {
      this.options.log.error('A failed restore could not put everything back.', { problems });
    }
  }

  private async readFiles(): Promise<Record<BackupDataFile, string | null>> {
    const files = {} as Record<BackupDataFile, string | null>;
    for (const name of BACKUP_DATA_FILES) {
      try {
        files[name] = await fs.readFile(path.join(this.options.dataDir, name), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        files[name] = null;
      }
    }
    return files;
  }

  private async writeFile(name: BackupDataFile, text: string | null): Promise<void> {
    const file = path.join(this.options.dataDir, name);
    if (text === null) await fs.rm(file, { force: true });
    else await writeFileAtomic(file, text);
  }

  private now(): Date {
    return (this.options.clock ?? (() => new Date()))();
  }
}

function corruptPayload(why: string, cause?: unknown): OpenIrError {
  return new OpenIrError('BACKUP_CORRUPT', `The backup cannot be restored: ${why}.`, {
    fix: 'Use another copy of the backup, made by this version of OpenIR or an older one. Nothing was changed.',
    ...(cause === undefined ? {} : { cause }),
  });
}
