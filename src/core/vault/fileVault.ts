import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OpenIrError } from '../../shared/errors';
import { writeFileAtomic } from '../atomicFile';
import { SealedFileVault, type Sealer } from './sealedFile';
import { VAULT_BACKENDS } from './types';

const SealedSchema = z.object({ iv: z.string(), tag: z.string(), data: z.string() });

/** AES-256-GCM under a random key kept in a 0600 file; the entry name is the associated data. */
class KeyFileSealer implements Sealer {
  constructor(private readonly keyFile: string) {}

  async seal(name: string, plaintext: string): Promise<string> {
    const key = await this.key(true);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(name));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return JSON.stringify({
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    });
  }

  async unseal(name: string, sealed: string): Promise<{ plaintext: string }> {
    const { iv, tag, data } = SealedSchema.parse(JSON.parse(sealed));
    const decipher = createDecipheriv('aes-256-gcm', await this.key(false), Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    const plaintext = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]);
    return { plaintext: plaintext.toString('utf8') };
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

/**
 * The fallback when no OS keyring answers. It keeps secrets out of plain text
 * (config, logs, copies of single files) but not from someone who can read the
 * whole data directory as this user, so it is always reported as weaker.
 */
export class FileVault extends SealedFileVault {
  constructor(dir: string) {
    super(
      path.join(dir, 'secrets.json'),
      new KeyFileSealer(path.join(dir, 'file-vault.key')),
      VAULT_BACKENDS['encrypted-file'],
    );
  }
}
