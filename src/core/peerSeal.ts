import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { OpenIrError } from '../shared/errors';
import type { SecretVault } from './vault';

/** The vault entry holding this node's X25519 private key (PKCS#8 DER, base64). */
export const PEER_SYNC_KEY = 'peer-sync-key';

/** How far apart two nodes' clocks may be before a sealed message is refused as stale or replayed. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * This node's key for credential sync. Peers learn the public half from the
 * control plane; the private half never leaves the vault except in a backup.
 */
export class PeerKey {
  private constructor(
    private readonly privateKey: KeyObject,
    /** base64 SPKI DER: what the control plane lists for peers. */
    readonly publicKey: string,
  ) {}

  /** Loads the key from the vault, creating it on first use. */
  static async load(vault: SecretVault): Promise<PeerKey> {
    const stored = await vault.get(PEER_SYNC_KEY);
    if (stored)
      return PeerKey.fromPrivate(
        createPrivateKey({ key: Buffer.from(stored, 'base64'), format: 'der', type: 'pkcs8' }),
      );
    const { privateKey } = generateKeyPairSync('x25519');
    await vault.set(PEER_SYNC_KEY, privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'));
    return PeerKey.fromPrivate(privateKey);
  }

  private static fromPrivate(privateKey: KeyObject): PeerKey {
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return new PeerKey(privateKey, spki.toString('base64'));
  }

  /** The AES-256 key only this node and `peerPublicKey`'s owner can compute, bound to the IR and both ids. */
  sharedKey(peerPublicKey: string, irId: string, a: string, b: string): Buffer {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: Buffer.from(peerPublicKey, 'base64'), format: 'der', type: 'spki' });
    } catch (error) {
      throw refused('The peer published an unreadable sync key.', error);
    }
    const secret = diffieHellman({ privateKey: this.privateKey, publicKey });
    const [first, second] = [a, b].sort();
    return Buffer.from(
      hkdfSync('sha256', secret, Buffer.from(irId), `openir peer sync v1 ${first} ${second}`, 32),
    );
  }
}

export const SealedMessageSchema = z.object({
  v: z.literal(1),
  from: z.string().min(1).max(100),
  to: z.string().min(1).max(100),
  /** Sender's clock, ms since the epoch; authenticated, so a replay later than the skew is refused. */
  at: z.number().int(),
  iv: z.string().max(40),
  tag: z.string().max(40),
  data: z.string(),
});
export type SealedMessage = z.infer<typeof SealedMessageSchema>;

const aad = (m: Pick<SealedMessage, 'v' | 'from' | 'to' | 'at'>) =>
  Buffer.from(`${m.v}|${m.from}>${m.to}|${m.at}`);

/**
 * AES-256-GCM under the pair's shared key. The direction and time are
 * authenticated, so a message cannot be reflected back to its sender or
 * replayed after the skew window; the payload stays sealed even when remote
 * access runs without TLS.
 */
export function seal(
  key: Buffer,
  header: { from: string; to: string; at: number },
  payload: unknown,
): SealedMessage {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const message = { v: 1 as const, ...header };
  cipher.setAAD(aad(message));
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  return {
    ...message,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

export function open(key: Buffer, message: SealedMessage, nowMs: number): unknown {
  if (Math.abs(nowMs - message.at) > MAX_CLOCK_SKEW_MS) {
    // A fixed text (no seconds in it), so a lasting skew is logged once, not every round.
    throw refused(
      `The two nodes' clocks differ by more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes, so the peer's message is refused as stale.`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(message.iv, 'base64'));
    decipher.setAAD(aad(message));
    decipher.setAuthTag(Buffer.from(message.tag, 'base64'));
    const text = Buffer.concat([decipher.update(Buffer.from(message.data, 'base64')), decipher.final()]);
    return JSON.parse(text.toString('utf8'));
  } catch (error) {
    throw refused(
      'The peer message did not decrypt with the keys the control plane lists for the two nodes.',
      error,
    );
  }
}

function refused(message: string, cause?: unknown): OpenIrError {
  return new OpenIrError('PEER_SYNC_REFUSED', message, {
    fix: 'Check that both nodes are registered in the same integration runtime, are Online (so the control plane lists their current keys), and that their clocks are set correctly.',
    ...(cause === undefined ? {} : { cause }),
  });
}
