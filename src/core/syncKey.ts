import { createHash } from 'node:crypto';
import { formatSyncKeyFingerprint } from '../shared/syncKey';

/** The fingerprint of a sync key as advertised (base64), the same one the control plane computes. */
export function syncKeyFingerprint(peerKey: string): string {
  return formatSyncKeyFingerprint(
    createHash('sha256').update(Buffer.from(peerKey, 'base64')).digest('base64'),
  );
}
