import { readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { z } from 'zod';
import { OpenIrError } from '../shared/errors';
import { writeFileAtomic } from './atomicFile';

/**
 * Where the running server tells the admin CLI on the same machine how to
 * reach its admin API: the loopback URL it listens on, its TLS pin and its
 * certificate (public). The CLI checks the pin during the handshake, before
 * the instance-admin token (the `admin-token` file beside it) is sent.
 */
export const LOCAL_API_FILE = 'admin-api.json';

export const LocalApiRecordSchema = z.object({
  url: z.string(),
  pin: z.string(),
  certPem: z.string(),
  pid: z.number().int(),
});
export type LocalApiRecord = z.infer<typeof LocalApiRecordSchema>;

/** The address this machine reaches a server bound to `host` at: loopback for a wildcard bind. */
export function localApiUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `https://${isIP(name) === 6 ? `[${name}]` : name}:${port}`;
}

export function writeLocalApiRecord(dataDir: string, record: LocalApiRecord): void {
  writeFileAtomic(path.join(dataDir, LOCAL_API_FILE), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

/** Best effort on stop: a record left by a crash only makes the CLI say the server is not answering. */
export function removeLocalApiRecord(dataDir: string): void {
  rmSync(path.join(dataDir, LOCAL_API_FILE), { force: true });
}

/** The record, or null when no server has written one (never started here, or stopped). */
export function readLocalApiRecord(dataDir: string): LocalApiRecord | null {
  const file = path.join(dataDir, LOCAL_API_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new OpenIrError('UNAUTHORIZED', `Cannot read ${file} (${code ?? (error as Error).message}).`, {
      fix: 'Run as the user the control plane runs as (or root), or give --url and a token.',
      cause: error,
    });
  }
  let parsed: ReturnType<typeof LocalApiRecordSchema.safeParse> | null = null;
  try {
    parsed = LocalApiRecordSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = null;
  }
  if (!parsed?.success) {
    throw new OpenIrError('CONTROL_PLANE_ERROR', `${file} is damaged.`, {
      fix: 'Restart the control plane: it writes the file again when it starts.',
    });
  }
  return parsed.data;
}
