import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OpenIrError } from '../shared/errors';
import { writeFileAtomic } from '../core/atomicFile';

/**
 * Sign-in links for a running web UI that nobody saw start (a service).
 *
 * `openir serve` writes `run/web-ui.json` with the UI's address and a random
 * link key, readable only by the host's user (and its group with
 * OPENIR_GROUP_ACCESS=1). `openir ui-url` reads it and signs a fresh link:
 * a random nonce and an expiry under an HMAC of that key. The web UI accepts
 * each link once, before it expires, and trades it for a session cookie. So
 * whoever can read the file (root, the admin group) can sign in, the key never
 * leaves the machine, and no link is written to a log that stays valid.
 */
export const WEB_UI_FILE = 'web-ui.json';
export const SIGN_IN_LINK_TTL_MS = 10 * 60_000;

const WebUiFileSchema = z.object({
  url: z.url(),
  port: z.number().int().min(1).max(65535),
  pid: z.number().int(),
  linkKey: z.string().min(43),
});
export type WebUiFile = z.infer<typeof WebUiFileSchema>;

export function webUiFilePath(runDir: string): string {
  return path.join(runDir, WEB_UI_FILE);
}

export async function writeWebUiFile(file: string, content: WebUiFile, groupAccess: boolean): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`, groupAccess ? 0o640 : 0o600);
}

export async function readWebUiFile(file: string): Promise<WebUiFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new OpenIrError('UNAUTHORIZED', `You may not read ${file}.`, {
        fix: 'Run it as root (sudo openir ui-url) or as a member of the openir group (sudo usermod -aG openir $USER, then log in again).',
        cause: error,
      });
    }
    throw new OpenIrError('HOST_NOT_RUNNING', 'No web UI is running for this data directory.', {
      fix: 'Start the host with its web UI: `openir serve` (or `sudo systemctl start openir` for the service).',
      cause: error,
    });
  }
  const parsed = WebUiFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new OpenIrError('UNREADABLE', `${file} is damaged.`, {
      fix: 'Restart the host: it writes the file again.',
    });
  }
  return parsed.data;
}

export function newLinkKey(): string {
  return randomBytes(32).toString('base64url');
}

/** `<nonce>.<expiry ms>.<hmac>`, all URL-safe. */
export function signInLink(file: WebUiFile, now = Date.now()): string {
  const nonce = randomBytes(16).toString('base64url');
  const expires = String(now + SIGN_IN_LINK_TTL_MS);
  const mac = sign(file.linkKey, `${nonce}.${expires}`);
  return `${file.url}?token=${nonce}.${expires}.${mac}`;
}

function sign(key: string, text: string): string {
  return createHmac('sha256', Buffer.from(key, 'base64url')).update(text).digest('base64url');
}

/** The web UI's side: checks a link's token and remembers used nonces until they expire. */
export class SignInLinks {
  private readonly used = new Map<string, number>();

  constructor(
    readonly linkKey: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True once per valid, unexpired link. */
  redeem(token: string): boolean {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [nonce, expiresText, mac] = parts as [string, string, string];
    const expected = Buffer.from(sign(this.linkKey, `${nonce}.${expiresText}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const expires = Number(expiresText);
    const now = this.now();
    if (!Number.isFinite(expires) || expires <= now || expires > now + SIGN_IN_LINK_TTL_MS) return false;
    for (const [seen, until] of this.used) if (until <= now) this.used.delete(seen);
    if (this.used.has(nonce)) return false;
    this.used.set(nonce, expires);
    return true;
  }
}
