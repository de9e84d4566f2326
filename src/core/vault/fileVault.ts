import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import { VAULT_BACKENDS, type SecretVault } from './types';

const SealedSchema = z.object({ iv: z.string(), tag: z.string(), data: z.string() });
const FileSchema = z.object({ version: z.literal(1), entries: z.record(z.string(), SealedSchema) });
type VaultFile = z.infer<typeof FileSchema>;

/**
 * The fallback when no OS keyring answers: AES-256-GCM, the key in a 0600 file
 * beside the data. It keeps secrets out of plain text (config, logs, backups of
 * single files) but not from someone who can read the whole data directory as
 * this user, so it is always reported as the weaker backend.
 */
export class FileVault implements SecretVault {
  readonly backend = VAULT_BACKENDS['encrypted-file'];
  private readonly keyFile: string;
  private readonly dataFile: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.keyFile = path.join(dir, 'file-vault.key');
    this.dataFile = path.join(dir, 'secrets.json');
  }

  async get(name: string): Promise<string | null> {
    const file = await this.readFile();
    const sealed = file.entries[name];
    if (!sealed) return null;
    const key = await this.key(false);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(Buffer.from(name));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch (error) {
      throw new OpenIrError(
        'VAULT_UNAVAILABLE',
        `The secret "${name}" in the encrypted file vault cannot be decrypted.`,
        {
          fix: 'The vault key file was replaced or the vault was tampered with; restore the data directory from a backup.',
          cause: error,
        },
      );
    }
  }

  set(name: string, value: string): Promise<void> {
    return this.mutate(async (file) => {
      const key = await this.key(true);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(name));
      const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      file.entries[name] = {
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
    });
  }

  delete(name: string): Promise<void> {
    return this.mutate(async (file) => {
      delete file.entries[name];
    });
  }

  private mutate(change: (file: VaultFile) => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      const file = await this.readFile();
      await change(file);
      await writeFileAtomic(this.dataFile, JSON.stringify(file));
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readFile(): Promise<VaultFile> {
    try {
      return FileSchema.parse(JSON.parse(await fs.readFile(this.dataFile, 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: {} };
      throw new OpenIrError('VAULT_UNAVAILABLE', 'The encrypted file vault is unreadable.', {
        fix: `Restore ${this.dataFile} from a backup.`,
        cause: error,
      });
    }
  }

  private async key(create: boolean): Promise<Buffer> {
    try {
      const key = await fs.readFile(this.keyFile);
      if (key.length !== 32) throw new Error('vault key has the wrong length');
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
        throw new OpenIrError(
          'VAULT_UNAVAILABLE',
          'The key of the encrypted file vault is missing or damaged.',
          {
            fix: `Restore ${this.keyFile} from a backup.`,
            cause: error,
          },
        );
      }
      const key = randomBytes(32);
      await writeFileAtomic(this.keyFile, key, 0o600);
      return key;
    }
  }
}
