import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { z } from 'zod';
import { OpenIrError } from '../shared/errors';
import type { SecretVault } from './vault';

/**
 * The vault entry holding this node's X25519 private key (PKCS#8 DER, base64).
 * Unchanged since the first release: HPKE's DHKEM(X25519) uses the same keys,
 * so nodes keep their key (and the fingerprint an admin approved) across the
 * switch to HPKE.
 */
export const PEER_SYNC_KEY = 'peer-sync-key';

/** How far apart two nodes' clocks may be before a sealed message is refused as stale or replayed. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** A peer message sent at `at` is outside the clock window (also checked on the seal header). */
export function isStale(at: number, nowMs: number): boolean {
  return Math.abs(nowMs - at) > MAX_CLOCK_SKEW_MS;
}

/** A fixed text (no seconds in it), so a lasting skew is logged once, not every round. */
export const STALE_MESSAGE = `The two nodes' clocks differ by more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes, so the peer's message is refused as stale.`;

/** The wire format: 1 was the hand-made X25519 + HKDF + AES-GCM of OpenIR 0.1, refused since HPKE. */
export const PEER_SEAL_VERSION = 2;

/**
 * RFC 9180 HPKE, mode_auth: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
 * Auth mode because the sender must be proven, not only the recipient: a
 * request "from node A" is only accepted if it was sealed with A's private
 * key, as the static-static key of version 1 guaranteed.
 */
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

// WebCrypto's key types as @hpke/core names them (the build's lib has no DOM, where the globals live).
type HpkeKey = Awaited<ReturnType<typeof suite.kem.importKey>>;
type HpkeKeyPair = Awaited<ReturnType<typeof suite.kem.generateKeyPair>>;

/** Which side of an exchange sealed the message: a reply cannot be passed off as a request. */
export type SealPurpose = 'sync-request' | 'sync-reply';

/** What both ends must agree on for a message to open: HPKE's `info`. */
export interface SealContext {
  irId: string;
  from: string;
  to: string;
  purpose: SealPurpose;
}

export const SealedMessageSchema = z.object({
  v: z.literal(PEER_SEAL_VERSION),
  from: z.string().min(1).max(100),
  to: z.string().min(1).max(100),
  /** Sender's clock, ms since the epoch; authenticated (HPKE aad), so a replay later than the skew is refused. */
  at: z.number().int(),
  /** HPKE's encapsulated ephemeral key (32 bytes): fresh per message, so it is also the replay cache's nonce. */
  enc: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  data: z.string(),
});
export type SealedMessage = z.infer<typeof SealedMessageSchema>;

/** The header fields as peers of OpenIR 0.1 sent them (with `iv` and `tag` instead of `enc`). */
const LegacySealedMessageSchema = z
  .object({ v: z.literal(1), from: z.string(), to: z.string() })
  .passthrough();

// JSON arrays: unambiguous whatever characters the ids hold.
const infoFor = (c: SealContext) =>
  Buffer.from(JSON.stringify(['openir peer sync', PEER_SEAL_VERSION, c.purpose, c.irId, c.from, c.to]));
const aadFor = (m: Pick<SealedMessage, 'v' | 'from' | 'to' | 'at'>) =>
  Buffer.from(JSON.stringify([m.v, m.from, m.to, m.at]));

/**
 * Reads a sealed message, telling a peer of the previous version apart from
 * garbage: null when it is neither.
 */
export function parseSealedMessage(body: unknown): SealedMessage | null {
  const parsed = SealedMessageSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  if (LegacySealedMessageSchema.safeParse(body).success) throw outdated();
  return null;
}

/**
 * The `enc` values of messages opened in the skew window, so the same message
 * is opened once. Bounded: when full, the oldest entry is dropped and every
 * message not newer than it is refused from then on, so a replay can never
 * slip through a forgotten entry (only authenticated messages are recorded,
 * so only a peer can fill it).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  /** Messages sent at or before this time are refused: their entries may have been dropped. */
  private floor = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxEntries = 20_000) {}

  get size(): number {
    return this.seen.size;
  }

  /** Records a message; false if it was seen already (or is too old to tell). Synchronous, so two concurrent copies cannot both pass. */
  admit(enc: string, at: number, nowMs: number): boolean {
    if (at <= this.floor || this.seen.has(enc)) return false;
    if (this.seen.size >= this.maxEntries) this.makeRoom(nowMs);
    this.seen.set(enc, at);
    return true;
  }

  private makeRoom(nowMs: number): void {
    // A message older than the window is refused as stale anyway: its entry is not needed.
    for (const [enc, at] of this.seen) if (at < nowMs - MAX_CLOCK_SKEW_MS) this.seen.delete(enc);
    while (this.seen.size >= this.maxEntries) {
      let oldest: [string, number] | null = null;
      for (const entry of this.seen) if (!oldest || entry[1] < oldest[1]) oldest = entry;
      if (!oldest) return;
      this.seen.delete(oldest[0]);
      this.floor = Math.max(this.floor, oldest[1]);
    }
  }
}

/**
 * This node's key for credential sync. Peers learn the public half from the
 * control plane; the private half never leaves the vault except in a backup.
 */
export class PeerKey {
  private hpkeKeys: Promise<HpkeKeyPair> | null = null;
  /** Peers' imported public keys: every round opens and seals for the same few peers. */
  private readonly peerKeys = new Map<string, Promise<HpkeKey>>();

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

  /** Seals `payload` for the peer whose public key is `peerPublicKey`, as `context.from`. */
  async seal(
    peerPublicKey: string,
    context: SealContext,
    at: number,
    payload: unknown,
  ): Promise<SealedMessage> {
    const header = { v: PEER_SEAL_VERSION, from: context.from, to: context.to, at } as const;
    const { enc, ct } = await suite.seal(
      {
        recipientPublicKey: await this.peerKey(peerPublicKey),
        senderKey: await this.keys(),
        info: infoFor(context),
      },
      Buffer.from(JSON.stringify(payload), 'utf8'),
      aadFor(header),
    );
    return {
      ...header,
      enc: Buffer.from(enc).toString('base64'),
      data: Buffer.from(ct).toString('base64'),
    };
  }

  /**
   * Opens a message `peerPublicKey`'s owner sealed for this node. Refused:
   * outside the clock window, another context (IR, direction, purpose), any
   * changed byte, another sender's key, and a message already opened.
   */
  async open(
    peerPublicKey: string,
    context: SealContext,
    message: SealedMessage,
    nowMs: number,
    replays: ReplayGuard,
  ): Promise<unknown> {
    if (message.from !== context.from || message.to !== context.to) {
      throw refused('The peer message is addressed to another node or comes from another node.');
    }
    if (isStale(message.at, nowMs)) throw refused(STALE_MESSAGE);
    let plaintext: ArrayBuffer;
    try {
      plaintext = await suite.open(
        {
          recipientKey: await this.keys(),
          enc: Buffer.from(message.enc, 'base64'),
          senderPublicKey: await this.peerKey(peerPublicKey),
          info: infoFor(context),
        },
        Buffer.from(message.data, 'base64'),
        aadFor(message),
      );
    } catch (error) {
      if (error instanceof OpenIrError) throw error;
      throw refused(
        'The peer message did not decrypt with the keys the control plane lists for the two nodes.',
        error,
      );
    }
    // After authentication, so only a real peer's messages take room in the cache.
    if (!replays.admit(message.enc, message.at, nowMs)) {
      throw refused('The peer message was received before (a replay), so it is refused.');
    }
    try {
      return JSON.parse(Buffer.from(plaintext).toString('utf8'));
    } catch (error) {
      throw refused('The peer message decrypted to something other than JSON.', error);
    }
  }

  private peerKey(spkiBase64: string): Promise<HpkeKey> {
    let key = this.peerKeys.get(spkiBase64);
    if (!key) {
      // An IR has a handful of nodes; a key that changed leaves its old entry behind, so keep it bounded.
      if (this.peerKeys.size >= 64) this.peerKeys.clear();
      key = importPeerKey(spkiBase64);
      // A refused key is not remembered: the control plane may list a good one next.
      key.catch(() => this.peerKeys.delete(spkiBase64));
      this.peerKeys.set(spkiBase64, key);
    }
    return key;
  }

  private keys(): Promise<HpkeKeyPair> {
    this.hpkeKeys ??= (async () => {
      const jwk = this.privateKey.export({ format: 'jwk' });
      return {
        privateKey: await suite.kem.importKey('jwk', jwk, false),
        publicKey: await suite.kem.importKey('raw', rawKey(jwk.x), true),
      };
    })();
    return this.hpkeKeys;
  }
}

/** The control plane lists SPKI DER (base64), as since the first release; HPKE wants the raw 32 bytes. */
async function importPeerKey(spkiBase64: string): Promise<HpkeKey> {
  try {
    const key = createPublicKey({ key: Buffer.from(spkiBase64, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'x25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return await suite.kem.importKey('raw', rawKey(key.export({ format: 'jwk' }).x), true);
  } catch (error) {
    throw refused('The peer published an unreadable sync key.', error);
  }
}

/** A JWK's base64url `x` as the exact ArrayBuffer `importKey('raw')` takes (a Buffer may be a view of a larger pool). */
function rawKey(x: string | undefined): ArrayBuffer {
  const bytes = Buffer.from(x ?? '', 'base64url');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

function refused(message: string, cause?: unknown): OpenIrError {
  return new OpenIrError('PEER_SYNC_REFUSED', message, {
    fix: 'Check that both nodes are registered in the same integration runtime, are Online (so the control plane lists their current keys), and that their clocks are set correctly.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The answer to a peer of OpenIR 0.1: it reads the message, so the message says what to do. */
export function outdated(): OpenIrError {
  return new OpenIrError(
    'PEER_SYNC_OUTDATED',
    'The peer seals credential sync the way OpenIR 0.1 did (hand-made X25519 + AES-GCM); this node accepts only HPKE (RFC 9180) sealing, so nothing was exchanged.',
    {
      fix: 'Update every node of the integration runtime to the same OpenIR version; credentials sync again once both ends are updated.',
    },
  );
}
