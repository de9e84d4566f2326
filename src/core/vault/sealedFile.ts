import fs from 'node:fs/promises';
import { z } from 'zod';
import type { VaultBackend } from '../../shared/contract';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import type { SecretVault } from './types';

/** Turns a secret into an opaque string and back; `name` binds the two so entries cannot be swapped. */
export interface Sealer {
  seal(name: string, plaintext: string): Promise<string>;
  /** `reseal`: the backend's key was rotated or got stronger; the entry should be sealed again. */
  unseal(name: string, sealed: string): Promise<{ plaintext: string; reseal?: boolean }>;
}

const FileSchema = z.object({
  version: z.literal(2),
  backend: z.string(),
  entries: z.record(z.string(), z.string()),
});
type SealedFile = z.infer<typeof FileSchema>;

/**
 * Secrets sealed one by one and kept in a JSON file written atomically. The
 * sealing is the backend's (AES-GCM with a key file, Electron safeStorage);
 * plain text never reaches the disk.
 */
export class SealedFileVault implements SecretVault {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly sealer: Sealer,
    readonly backend: VaultBackend,
  ) {}

  async get(name: string): Promise<string | null> {
    const sealed = (await this.read()).entries[name];
    if (sealed === undefined) return null;
    let opened: { plaintext: string; reseal?: boolean };
    try {
      opened = await this.sealer.unseal(name, sealed);
    } catch (error) {
      if (error instanceof OpenIrError) throw error;
      throw new OpenIrError(
        'VAULT_UNAVAILABLE',
        `The secret "${name}" in the ${this.backend.label} cannot be decrypted.`,
        {
          fix: 'The vault was tampered with or its key changed; restore the data directory from a backup.',
          cause: error,
        },
      );
    }
    if (opened.reseal) {
      // Best effort: the secret was read, so a failed re-seal costs nothing but the upgrade; it is tried again next read.
      await this.mutate(async (file) => {
        if (file.entries[name] === sealed)
          file.entries[name] = await this.sealer.seal(name, opened.plaintext);
      }).catch(() => undefined);
    }
    return opened.plaintext;
  }

  set(name: string, value: string): Promise<void> {
    return this.mutate(async (file) => {
      file.entries[name] = await this.sealer.seal(name, value);
    });
  }

  delete(name: string): Promise<void> {
    return this.mutate(async (file) => {
      delete file.entries[name];
    });
  }

  private mutate(change: (file: SealedFile) => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      const file = await this.read();
      await change(file);
      await writeFileAtomic(this.file, JSON.stringify(file));
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<SealedFile> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 2, backend: this.backend.id, entries: {} };
      throw error;
    }
    const parsed = FileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new OpenIrError(
        'VAULT_UNAVAILABLE',
        `The ${this.backend.label} file ${this.file} is unreadable.`,
        {
          fix: 'Restore it from a backup.',
        },
      );
    }
    return parsed.data;
  }
}
