import { z } from 'zod';
import { StatusReportSchema } from './statusReport';

/**
 * Backup, restore and unregister: what crosses the host API. A backup file
 * is password-encrypted by the host (see src/core/backup/format.ts) and
 * crosses the API as base64; the encrypted file is not a secret, its password
 * is, and the password is never stored or logged.
 */

/** What the file's clear (but authenticated) header says: readable without the password. */
export const BackupInfoSchema = z.object({
  formatVersion: z.number().int().positive(),
  productVersion: z.string(),
  createdAt: z.string(),
  node: z.object({ id: z.string(), name: z.string(), fqdn: z.string() }).nullable(),
  ir: z.object({ id: z.string(), name: z.string() }).nullable(),
  controlPlane: z.string().nullable(),
});
export type BackupInfo = z.infer<typeof BackupInfoSchema>;

/** A backup file is a few KiB; anything much larger is not one (the CLI and the UI refuse it before sending). */
export const MAX_BACKUP_BYTES = 600 * 1024;

/** The encrypted file as base64; a real backup is a few KiB, the limit stays below the 1 MiB body limit. */
export const BackupContentSchema = z
  .string()
  .min(1)
  .max(900_000)
  .regex(/^[A-Za-z0-9+/=\s]*$/, 'Base64 expected.');

/** What `inspectBackup` takes: the file alone; its header is readable without the password. */
export const InspectBackupInputSchema = z.object({ content: BackupContentSchema }).strict();

export const MIN_BACKUP_PASSWORD_LENGTH = 12;

/** A new backup's password: long enough to matter, even with a memory-hard key derivation. */
export const NewBackupPasswordSchema = z
  .string()
  .min(
    MIN_BACKUP_PASSWORD_LENGTH,
    `The backup password must have at least ${MIN_BACKUP_PASSWORD_LENGTH} characters.`,
  )
  .max(1024);

export const BackupPasswordSchema = z.string().min(1, 'Give the password of the backup.').max(1024);

export const CreateBackupInputSchema = z.object({ password: NewBackupPasswordSchema }).strict();

export const CreateBackupOutputSchema = z.object({
  /** A suggested file name, e.g. openir-node1-2026-11-28.openir-backup. */
  fileName: z.string(),
  /** The encrypted backup file, base64. */
  content: z.string(),
  info: BackupInfoSchema,
  /** What went in, by name only (file names and how many vault secrets). */
  contents: z.object({ files: z.array(z.string()), secrets: z.number().int().nonnegative() }),
});
export type CreateBackupOutput = z.infer<typeof CreateBackupOutputSchema>;

export const RestoreBackupInputSchema = z
  .object({
    content: BackupContentSchema,
    password: BackupPasswordSchema,
    /** Replace this node's current registration and settings (refused without it on a registered node). */
    replace: z.boolean().optional(),
  })
  .strict();

/** What the restore did; `restoreBackup` answers it with the status report after it. */
export const RestoreBackupResultSchema = z.object({
  info: BackupInfoSchema,
  /** The registration the restore replaced, if any (it is still listed on its control plane). */
  replaced: z.object({ nodeName: z.string(), irName: z.string(), sameNode: z.boolean() }).nullable(),
});
export const RestoreBackupOutputSchema = RestoreBackupResultSchema.extend({ status: StatusReportSchema });

export const UnregisterInputSchema = z
  .object({
    /** Clean up this machine even when the control plane cannot be told. */
    force: z.boolean().optional(),
  })
  .strict();

/** What unregistering did; `unregister` answers it with the status report after it. */
export const UnregisterResultSchema = z.object({
  /** True when the control plane removed the node (or no longer knew it). */
  controlPlaneRemoved: z.boolean(),
  /** What is left to do, e.g. removing the node on an unreachable control plane by hand. */
  notice: z.string().nullable(),
  node: z.object({ id: z.string(), name: z.string() }),
  ir: z.object({ id: z.string(), name: z.string() }),
});
export const UnregisterOutputSchema = UnregisterResultSchema.extend({ status: StatusReportSchema });

/** "node1 in the integration runtime sales-ir (backed up 2026-11-28T…, OpenIR 0.1.0)". */
export function describeBackup(info: BackupInfo): string {
  const who = info.node
    ? `node "${info.node.name}" in the integration runtime "${info.ir?.name ?? '?'}"`
    : 'an unregistered node';
  return `${who} (backed up ${info.createdAt} by OpenIR ${info.productVersion})`;
}

/** The admin command that removes a node from its IR on the control plane, ready to paste into a shell. */
export function removeNodeCommand(irName: string, nodeName: string): string {
  return `openir-control-plane ir remove-node ${shellWord(irName)} ${shellWord(nodeName)}`;
}

function shellWord(text: string): string {
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : `'${text}'`;
}
