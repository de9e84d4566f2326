import { createHash } from 'node:crypto';

/**
 * The PKCS#12 key derivation (RFC 7292 appendix B) for the MAC key with
 * SHA-256, fast enough for OWASP's 600,000 iterations. Node has no native
 * PKCS#12 KDF, and one `createHash` per iteration costs about 10 µs (6 s for
 * 600,000 here), so the 599,999 iterations after the first, each a SHA-256 of
 * the 32-byte digest before it (always one padded block), run in a
 * specialised loop on 32-bit words. Yields to the event loop between slices so
 * an export does not stall the host's heartbeat.
 */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** Replaces the 8 words of `h` (a SHA-256 digest) with the SHA-256 of those 32 bytes, `times` times. */
function rehash32(h: Uint32Array, times: number, w: Uint32Array): void {
  for (let n = 0; n < times; n += 1) {
    for (let i = 0; i < 8; i += 1) w[i] = h[i] as number;
    // The padding of a 32-byte message: 0x80, zeros, and the length in bits (256).
    w[8] = 0x80000000;
    for (let i = 9; i < 15; i += 1) w[i] = 0;
    w[15] = 256;
    for (let i = 16; i < 64; i += 1) {
      const a = w[i - 15] as number;
      const b = w[i - 2] as number;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) | 0;
    }
    let a = IV[0] as number;
    let b = IV[1] as number;
    let c = IV[2] as number;
    let d = IV[3] as number;
    let e = IV[4] as number;
    let f = IV[5] as number;
    let g = IV[6] as number;
    let hh = IV[7] as number;
    for (let i = 0; i < 64; i += 1) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + (K[i] as number) + (w[i] as number)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = ((IV[0] as number) + a) | 0;
    h[1] = ((IV[1] as number) + b) | 0;
    h[2] = ((IV[2] as number) + c) | 0;
    h[3] = ((IV[3] as number) + d) | 0;
    h[4] = ((IV[4] as number) + e) | 0;
    h[5] = ((IV[5] as number) + f) | 0;
    h[6] = ((IV[6] as number) + g) | 0;
    h[7] = ((IV[7] as number) + hh) | 0;
  }
}

/** RFC 7292 B.2's I block part: `bytes` repeated to a multiple of 64 bytes (empty stays empty). */
function fill64(bytes: Buffer): Buffer {
  if (bytes.length === 0) return bytes;
  const out = Buffer.alloc(64 * Math.ceil(bytes.length / 64));
  for (let i = 0; i < out.length; i += 1) out[i] = bytes[i % bytes.length] as number;
  return out;
}

/** The password as PKCS#12 wants it: UTF-16BE (a BMPString) with a two-byte zero terminator. */
function bmpPassword(password: string): Buffer {
  const utf16 = Buffer.from(`${password}\u0000`, 'utf16le');
  return utf16.swap16();
}

const SLICE = 50_000;

function start(password: string, salt: Buffer, id: number): Uint32Array {
  const d = Buffer.alloc(64, id);
  const first = createHash('sha256')
    .update(Buffer.concat([d, fill64(salt), fill64(bmpPassword(password))]))
    .digest();
  const h = new Uint32Array(8);
  for (let i = 0; i < 8; i += 1) h[i] = first.readUInt32BE(i * 4);
  return h;
}

function finish(h: Uint32Array): Buffer {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i += 1) out.writeUInt32BE((h[i] as number) >>> 0, i * 4);
  return out;
}

/**
 * The 32-byte PKCS#12 key of purpose `id` (3 = MAC) with SHA-256: one block
 * A = H^iterations(D || S || P), which is all of it since 32 <= 32.
 */
export async function pkcs12Sha256Key(
  password: string,
  salt: Buffer,
  iterations: number,
  id = 3,
): Promise<Buffer> {
  const h = start(password, salt, id);
  const w = new Uint32Array(64);
  for (let left = iterations - 1; left > 0; left -= SLICE) {
    rehash32(h, Math.min(SLICE, left), w);
    if (left > SLICE) await new Promise((resolve) => setImmediate(resolve));
  }
  return finish(h);
}

/** The same, in one go: for forge's synchronous PFX parse (see parse.ts). */
export function pkcs12Sha256KeySync(password: string, salt: Buffer, iterations: number, id = 3): Buffer {
  const h = start(password, salt, id);
  rehash32(h, Math.max(0, iterations - 1), new Uint32Array(64));
  return finish(h);
}
