import fs from 'node:fs/promises';
import { z } from 'zod';
import { LogLevelSchema } from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import { ProxySettingsSchema } from '../shared/proxy';
import { RemoteAccessSettingsSchema } from '../shared/remoteAccess';
import { writeFileAtomic } from './atomicFile';

/**
 * The node's settings on disk. Never holds a secret: those live in the vault,
 * and this file only names which vault backend holds them, so a later start
 * can refuse a silent downgrade.
 */
export const RegistrationSchema = z.object({
  irId: z.string(),
  irName: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  fqdn: z.string(),
  endpoint: z.string(),
  pin: z.string(),
  /** Public certificate chain seen (and pin-checked) at registration; used as the trust anchor afterwards. */
  controlPlaneCaPem: z.string(),
  registeredAt: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
  heartbeatTimeoutMs: z.number().int().positive(),
});
export type Registration = z.infer<typeof RegistrationSchema>;

export const CONFIG_SCHEMA_VERSION = 4;

/** Local folder path validation and scale-up; no secret here either. */
export const JobsConfigSchema = z.object({
  /** Real paths of the folders jobs may read and write; empty allows no local path at all. */
  allowedFolders: z.array(z.string()),
  /** The concurrent jobs limit; null means the default from cores and memory. */
  concurrentJobsLimit: z.number().int().positive().nullable(),
});
export type JobsConfig = z.infer<typeof JobsConfigSchema>;

export const NodeConfigSchema = z.object({
  schemaVersion: z.literal(CONFIG_SCHEMA_VERSION),
  vaultBackend: z.string().nullable(),
  logLevel: LogLevelSchema,
  registration: RegistrationSchema.nullable(),
  proxy: ProxySettingsSchema,
  remoteAccess: RemoteAccessSettingsSchema,
  jobs: JobsConfigSchema,
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

export const DEFAULT_CONFIG: NodeConfig = {
  schemaVersion: CONFIG_SCHEMA_VERSION,
  vaultBackend: null,
  logLevel: 'info',
  registration: null,
  proxy: { mode: 'none' },
  remoteAccess: { mode: 'disabled' },
  jobs: { allowedFolders: [], concurrentJobsLimit: null },
};

/**
 * Each step upgrades a config written by an older version by one schema
 * version, so settings survive upgrades instead of being reset.
 */
const MIGRATIONS: Record<number, (old: Record<string, unknown>) => Record<string, unknown>> = {
  // 1 → 2: the HTTP proxy setting arrives; existing nodes keep connecting directly.
  1: (old) => ({ ...old, schemaVersion: 2, proxy: { mode: 'none' } }),
  // 2 → 3: remote access from intranet arrives, disabled as before.
  2: (old) => ({ ...old, schemaVersion: 3, remoteAccess: { mode: 'disabled' } }),
  // 3 → 4: jobs arrive; local folder path validation is on with an empty allow-list, as in the reference product.
  3: (old) => ({ ...old, schemaVersion: 4, jobs: { allowedFolders: [], concurrentJobsLimit: null } }),
};

export function migrateConfig(raw: unknown): { config: unknown; migrated: boolean } {
  let current = raw as Record<string, unknown>;
  let migrated = false;
  while (
    current &&
    typeof current === 'object' &&
    typeof current.schemaVersion === 'number' &&
    current.schemaVersion < CONFIG_SCHEMA_VERSION
  ) {
    const step = MIGRATIONS[current.schemaVersion];
    if (!step) break;
    current = step(current);
    migrated = true;
  }
  return { config: current, migrated };
}

/** Reads and writes config.json atomically; updates are serialized so two writers never interleave. */
export class ConfigStore {
  private current: NodeConfig | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  async load(): Promise<NodeConfig> {
    if (this.current) return this.current;
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.current = structuredClone(DEFAULT_CONFIG);
        return this.current;
      }
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new OpenIrError('INVALID_INPUT', `The configuration file ${this.file} is not valid JSON.`, {
        fix: 'Restore it from a backup, or move it away to start unregistered.',
        cause: error,
      });
    }
    const { config: upgraded, migrated } = migrateConfig(parsed);
    const result = NodeConfigSchema.safeParse(upgraded);
    if (!result.success) {
      throw new OpenIrError(
        'INVALID_INPUT',
        `The configuration file ${this.file} does not match this version of OpenIR.`,
        {
          fix: 'Restore it from a backup, or move it away to start unregistered.',
          cause: result.error,
        },
      );
    }
    this.current = result.data;
    if (migrated) {
      // Best effort: the upgraded config is in memory either way, and the next update writes it.
      await writeFileAtomic(this.file, `${JSON.stringify(result.data, null, 2)}\n`).catch(() => undefined);
    }
    return this.current;
  }

  /** Applies `change` to a copy and saves it; the in-memory config changes only if the save succeeded. */
  update(change: (draft: NodeConfig) => void): Promise<NodeConfig> {
    const run = this.queue.then(async () => {
      const draft = structuredClone(await this.load());
      change(draft);
      const valid = NodeConfigSchema.parse(draft);
      await writeFileAtomic(this.file, `${JSON.stringify(valid, null, 2)}\n`);
      this.current = valid;
      return valid;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
