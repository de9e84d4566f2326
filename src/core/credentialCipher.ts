import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { OpenIrError } from '../shared/errors';
import type { SecretVault } from './vault';

/** The vault entry of the key remote-access clients' credentials are encrypted with. */
export const CREDENTIAL_ENCRYPTION_KEY = 'credential-encryption-key';
const PREFIX = 'openir:v1:';
const AAD = Buffer.from('openir data store credential');

/**
 * Encrypts data store credentials for intranet clients with a key that never
 * leaves this node (it lives in the vault), so the control plane only ever
 * holds ciphertext the IR's nodes can open.
 */
export class CredentialCipher {
  constructor(private readonly vault: SecretVault) {}

  async encrypt(plaintext: string): Promise<string> {
    const key = await this.key(true);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  async decrypt(sealed: string): Promise<string> {
    if (!sealed.startsWith(PREFIX)) {
      throw new OpenIrError('INVALID_INPUT', 'This is not a credential encrypted by an OpenIR node.', {
        fix: 'Encrypt the credential again through a node of this integration runtime.',
      });
    }
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', await this.key(false), raw.subarray(0, 12));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (error) {
      if (error instanceof OpenIrError) throw error;
      throw new OpenIrError(
        'INVALID_INPUT',
        'This credential was encrypted by another node or integration runtime, or was altered.',
        {
          fix: 'Encrypt the credential again through a node of this integration runtime.',
          cause: error,
        },
      );
    }
  }

  private async key(create: boolean): Promise<Buffer> {
    const stored = await this.vault.get(CREDENTIAL_ENCRYPTION_KEY);
    if (stored) return Buffer.from(stored, 'base64');
    if (!create) {
      throw new OpenIrError('VAULT_UNAVAILABLE', 'This node has no credential encryption key yet.', {
        fix: 'Encrypt a credential through this node first.',
      });
    }
    const key = randomBytes(32);
    await this.vault.set(CREDENTIAL_ENCRYPTION_KEY, key.toString('base64'));
    return key;
  }
}
