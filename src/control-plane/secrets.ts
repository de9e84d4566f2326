import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Auth key secrets and node credentials are bearer secrets: the database keeps
 * only their SHA-256, so a copy of the database cannot register or impersonate
 * a node. They are 256-bit random values, so a plain hash (no salt, no
 * stretching) is enough; stretching only helps for guessable passwords.
 */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function secretMatchesHash(secret: string, storedHashHex: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHashHex, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
