import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  scrypt,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { z } from 'zod';
import { BackupInfoSchema, type BackupInfo } from '../../shared/backup';
import { OpenIrError } from '../../shared/errors';

/**
 * The backup file, version 1:
 *
 *   "OPENIRBK"            8 bytes  magic
 *   format version        u16 BE   (1)
 *   header length         u32 BE
 *   header                JSON: product version, node/IR/control plane, KDF params + salt, IV, password check
 *   ciphertext + GCM tag  AES-256-GCM of the payload; AAD = every byte above (magic through header)
 *   checksum              32 bytes SHA-256 of every byte above
 *
 * The key is derived with scrypt (memory-hard). Because GCM alone cannot
 * tell a wrong password from a damaged file, two more checks give each its
 * own error: the unkeyed checksum catches accidental damage anywhere
 * (BACKUP_CORRUPT before any password is tried), and a password check value
 * (HMAC under a second key derived with the same scrypt call) tells a wrong
 * password (BACKUP_WRONG_PASSWORD). Someone who alters the header on purpose
 * and recomputes the checksum still cannot get past GCM: an altered
 * salt/KDF/check value reads as a wrong password, anything else as corrupt.
 * The check value lets a guesser test passwords only as fast as GCM would
 * (one scrypt per guess), so it costs no security.
 */

export const BACKUP_MAGIC = Buffer.from('OPENIRBK', 'ascii');
export const BACKUP_FORMAT_VERSION = 1;
/** The file name extension the CLI and UI suggest. */
export const BACKUP_EXTENSION = '.openir-backup';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 2^17 × 8 × 128 bytes = 128 MiB of memory per try: OWASP's scrypt recommendation. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
/** Refused beyond this on reading, so a crafted file cannot make the host allocate gigabytes. */
const MAX_SCRYPT_MEMORY = 512 * 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;
const PREFIX_BYTES = BACKUP_MAGIC.length + 2 + 4;
const TAG_BYTES = 16;
const CHECKSUM_BYTES = 32;
const CHECK_LABEL = 'OpenIR backup password check v1';

const b64 = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+=*$/)
    .refine((s) => Buffer.from(s, 'base64').length === bytes, `${bytes} bytes expected`);

const HeaderSchema = z.object({
  product: z.literal('OpenIR'),
  productVersion: z.string().max(40),
  createdAt: z.string().max(40),
  node: BackupInfoSchema.shape.node,
  ir: BackupInfoSchema.shape.ir,
  controlPlane: z.string().max(300).nullable(),
  kdf: z.object({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(2 ** 10)
      .max(2 ** 20)
      .refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: b64(16),
  }),
  cipher: z.object({ name: z.literal('aes-256-gcm'), iv: b64(12) }),
  passwordCheck: b64(32),
});
type Header = z.infer<typeof HeaderSchema>;

export type BackupIdentity = Pick<
  BackupInfo,
  'node' | 'ir' | 'controlPlane' | 'productVersion' | 'createdAt'
>;

/** Encrypts `payload` under `password` into a backup file. */
export async function sealBackup(
  payload: Buffer,
  identity: BackupIdentity,
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<Buffer> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const { key, check } = await deriveKeys(password, salt, params);
  const header: Header = {
    product: 'OpenIR',
    productVersion: identity.productVersion,
    createdAt: identity.createdAt,
    node: identity.node,
    ir: identity.ir,
    controlPlane: identity.controlPlane,
    kdf: { name: 'scrypt', ...params, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', iv: iv.toString('base64') },
    passwordCheck: check.toString('base64'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  BACKUP_MAGIC.copy(prefix, 0);
  prefix.writeUInt16BE(BACKUP_FORMAT_VERSION, BACKUP_MAGIC.length);
  prefix.writeUInt32BE(headerBytes.length, BACKUP_MAGIC.length + 2);
  const aad = Buffer.concat([prefix, headerBytes]);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  const unsummed = Buffer.concat([aad, body]);
  return Buffer.concat([unsummed, createHash('sha256').update(unsummed).digest()]);
}

export interface ParsedBackup {
  info: BackupInfo;
  header: Header;
  aad: Buffer;
  body: Buffer;
}

/** Checks the file's structure and checksum and reads its header; no password needed. */
export function parseBackup(file: Buffer): ParsedBackup {
  if (file.length < BACKUP_MAGIC.length || !file.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) {
    throw corrupt('This is not an OpenIR backup file.');
  }
  if (file.length < PREFIX_BYTES) throw corrupt('The backup file is truncated.');
  const version = file.readUInt16BE(BACKUP_MAGIC.length);
  if (version !== BACKUP_FORMAT_VERSION) {
    throw new OpenIrError(
      'BACKUP_UNSUPPORTED_VERSION',
      `This backup uses format version ${version}; this OpenIR reads format version ${BACKUP_FORMAT_VERSION}.`,
      {
        fix:
          version > BACKUP_FORMAT_VERSION
            ? 'Restore it with the OpenIR version that made it (or newer).'
            : 'The file may be damaged; use another copy of the backup.',
      },
    );
  }
  const headerLength = file.readUInt32BE(BACKUP_MAGIC.length + 2);
  if (headerLength > MAX_HEADER_BYTES) throw corrupt('The backup file header is damaged.');
  const headerEnd = PREFIX_BYTES + headerLength;
  if (file.length < headerEnd + TAG_BYTES + CHECKSUM_BYTES) throw corrupt('The backup file is truncated.');
  const summed = file.subarray(0, file.length - CHECKSUM_BYTES);
  const checksum = file.subarray(file.length - CHECKSUM_BYTES);
  if (!createHash('sha256').update(summed).digest().equals(checksum)) {
    throw corrupt('The backup file is damaged or was altered (its checksum does not match).');
  }
  let header: Header;
  try {
    header = HeaderSchema.parse(JSON.parse(file.subarray(PREFIX_BYTES, headerEnd).toString('utf8')));
  } catch (cause) {
    throw corrupt('The backup file header is not readable.', cause);
  }
  if (scryptMemory(header.kdf) > MAX_SCRYPT_MEMORY) {
    throw corrupt('The backup file asks for an unreasonable amount of memory to derive its key.');
  }
  return {
    header,
    aad: file.subarray(0, headerEnd),
    body: file.subarray(headerEnd, file.length - CHECKSUM_BYTES),
    info: {
      formatVersion: version,
      productVersion: header.productVersion,
      createdAt: header.createdAt,
      node: header.node,
      ir: header.ir,
      controlPlane: header.controlPlane,
    },
  };
}

/** Decrypts a backup: BACKUP_WRONG_PASSWORD, BACKUP_CORRUPT or BACKUP_UNSUPPORTED_VERSION otherwise. */
export async function openBackup(
  file: Buffer,
  password: string,
): Promise<{ info: BackupInfo; payload: Buffer }> {
  const parsed = parseBackup(file);
  const { header } = parsed;
  const { key, check } = await deriveKeys(password, Buffer.from(header.kdf.salt, 'base64'), header.kdf);
  try {
    if (!timingSafeEqual(check, Buffer.from(header.passwordCheck, 'base64'))) {
      throw new OpenIrError('BACKUP_WRONG_PASSWORD', 'The password of this backup is wrong.', {
        fix: 'Type the password given when the backup was made (passwords are case-sensitive). Nothing was changed.',
      });
    }
    const ciphertext = parsed.body.subarray(0, parsed.body.length - TAG_BYTES);
    const tag = parsed.body.subarray(parsed.body.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.cipher.iv, 'base64'));
    decipher.setAAD(parsed.aad);
    decipher.setAuthTag(tag);
    try {
      return { info: parsed.info, payload: Buffer.concat([decipher.update(ciphertext), decipher.final()]) };
    } catch (cause) {
      throw corrupt('The backup file was altered after it was made (it fails authentication).', cause);
    }
  } finally {
    key.fill(0);
  }
}

async function deriveKeys(
  password: string,
  salt: Buffer,
  params: ScryptParams,
): Promise<{ key: Buffer; check: Buffer }> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: scryptMemory(params) + 16 * 1024 * 1024,
  };
  const derived = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, 64, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
  const key = Buffer.from(derived.subarray(0, 32));
  const check = createHmac('sha256', derived.subarray(32)).update(CHECK_LABEL).update(salt).digest();
  derived.fill(0);
  return { key, check };
}

function scryptMemory(params: ScryptParams): number {
  return 128 * params.N * params.r + 128 * params.r * params.p;
}

function corrupt(message: string, cause?: unknown): OpenIrError {
  return new OpenIrError('BACKUP_CORRUPT', message, {
    fix: 'Use another copy of the backup file (copy it in binary mode). Nothing was changed.',
    ...(cause === undefined ? {} : { cause }),
  });
}
