import { createHash } from 'node:crypto';
import { formatSyncKeyFingerprint } from '../shared/syncKey';

/** The fingerprint an admin compares with the one the node shows (same computation as the node's). */
export function syncKeyFingerprint(peerKey: string): string {
  return formatSyncKeyFingerprint(
    createHash('sha256').update(Buffer.from(peerKey, 'base64')).digest('base64'),
  );
}
