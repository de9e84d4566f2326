/**
 * How a node's credential-sync key is shown to people: `SHA256:` and the
 * unpadded base64 of the SHA-256 of the key as the node advertises it (the
 * style of `ssh-keygen -lf`). The node shows its own on Register/Home and in
 * `openir status`; the admin compares it and passes it to
 * `openir-control-plane ir approve --fingerprint`.
 */
export const SYNC_KEY_FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The fingerprint from the base64 of a SHA-256 digest (the hashing needs node:crypto, so callers do it). */
export function formatSyncKeyFingerprint(digestBase64: string): string {
  return `SHA256:${digestBase64.replace(/=+$/u, '')}`;
}

/** Accepts what a person pastes: surrounding spaces, and the `SHA256:` prefix in any case or left out. */
export function normalizeSyncKeyFingerprint(text: string): string | null {
  const trimmed = text.trim();
  const body = /^sha256:/iu.test(trimmed) ? trimmed.slice('sha256:'.length) : trimmed;
  const candidate = `SHA256:${body.replace(/=+$/u, '')}`;
  return SYNC_KEY_FINGERPRINT_PATTERN.test(candidate) ? candidate : null;
}

/**
 * Whether an approved node now reports another sync key than the one pinned at
 * its approval: it gets no jobs and no credentials until approved again.
 */
export function syncKeyChanged<T extends { peerKey: string | null; approvedPeerKey: string | null }>(
  node: T,
): node is T & { peerKey: string; approvedPeerKey: string } {
  return node.approvedPeerKey !== null && node.peerKey !== null && node.peerKey !== node.approvedPeerKey;
}
