import { OpenIrError } from '../shared/errors';
import { isStale, outdated, STALE_MESSAGE } from './peerSeal';

/**
 * The outside of a sealed peer-sync request, repeated in an HTTP header so the
 * listener can refuse a request before it reads (and parses, and tries to
 * open) a body of up to PEER_SYNC_MAX_BYTES: one that names no sender, is not
 * for this node, or is outside the clock window is answered from its headers
 * alone. It adds no trust: the sealed body authenticates the same fields, and
 * the listener checks that body and header agree.
 *
 * Format: `x-openir-seal: from=<node id>; to=<node id>; at=<ms since epoch>`.
 */
export const PEER_SEAL_HEADER = 'x-openir-seal';

export interface SealHeader {
  from: string;
  to: string;
  at: number;
}

/** Node ids are UUIDs from the control plane; this admits any plain id without spaces or separators. */
const ID = '[A-Za-z0-9._:-]{1,100}';
const HEADER_PATTERN = new RegExp(`^from=(${ID}); to=(${ID}); at=(\\d{1,15})$`);

export function formatSealHeader(header: SealHeader): string {
  return `from=${header.from}; to=${header.to}; at=${header.at}`;
}

/**
 * Checks the header of a peer-sync request; throws PEER_SYNC_REFUSED saying
 * what is wrong. `nodeId` is this node's id (null while unregistered: then
 * nothing is addressed to it); undefined leaves the recipient to the sync itself.
 */
export function checkSealHeader(
  value: string | string[] | undefined,
  nodeId: string | null | undefined,
  now: number,
): SealHeader {
  // Nodes of OpenIR 0.1 send no header: they get the answer that tells them to update.
  if (value === undefined) throw outdated();
  const match = typeof value === 'string' ? HEADER_PATTERN.exec(value) : null;
  if (!match) {
    throw refused(
      `The sync request's ${PEER_SEAL_HEADER} header is malformed.`,
      'Update the sending node to the same OpenIR version as this one.',
    );
  }
  const header: SealHeader = { from: match[1] as string, to: match[2] as string, at: Number(match[3]) };
  if (nodeId !== undefined && header.to !== nodeId) {
    throw refused(
      'This sync request is not addressed to this node.',
      'Check that the sender and this node are registered in the same integration runtime.',
    );
  }
  if (isStale(header.at, now)) throw refused(STALE_MESSAGE, 'Set both clocks correctly (NTP).');
  return header;
}

/** The sealed body must carry the header's sender, recipient and time. */
export function checkBodyMatchesHeader(body: unknown, header: SealHeader): void {
  const b = body as { from?: unknown; to?: unknown; at?: unknown } | null;
  if (
    typeof b !== 'object' ||
    b === null ||
    b.from !== header.from ||
    b.to !== header.to ||
    b.at !== header.at
  ) {
    throw refused(
      `The sync request's body does not match its ${PEER_SEAL_HEADER} header.`,
      'Update the sending node to the same OpenIR version as this one.',
    );
  }
}

function refused(message: string, fix: string): OpenIrError {
  return new OpenIrError('PEER_SYNC_REFUSED', message, { fix });
}
