import { z } from 'zod';
import { ErrorBodySchema } from './errors';

/**
 * The diagnostics bundle: one zip a user hands to support (or sends to the
 * control plane), named by an ID both sides can quote. What crosses the host
 * API is the zip as base64 (the CLI or the UI saves it), the ID, the list of
 * files inside and, with `send`, what the control plane answered. Secrets
 * never go in: see src/core/diagnosticsBundle.ts for how that is made sure.
 */

/** `OIR-` and 12 characters of Crockford base32 (no I, L, O, U: read aloud without confusion). */
export const DIAGNOSTICS_BUNDLE_ID_PATTERN = /^OIR-[0-9A-HJKMNP-TV-Z]{12}$/;
export const DiagnosticsBundleIdSchema = z
  .string()
  .regex(DIAGNOSTICS_BUNDLE_ID_PATTERN, 'A diagnostics bundle ID looks like OIR-7K2M9Q4XH3VD.');

/** The most a bundle may weigh when sent to the control plane (logs compress about tenfold). */
export const MAX_DIAGNOSTICS_BUNDLE_BYTES = 32 * 1024 * 1024;

/** PUT, as the node (its channel credential), the zip as the body. */
export const diagnosticsUploadPath = (id: string): string =>
  `/api/v1/nodes/self/diagnostics/${encodeURIComponent(id)}`;
export const DIAGNOSTICS_UPLOAD_ROUTE = '/api/v1/nodes/self/diagnostics/:id';

export const CreateDiagnosticsBundleInputSchema = z
  .object({
    /** Also upload it to this node's control plane (the bundle is returned either way). */
    send: z.boolean().optional(),
  })
  .strict();

export const DiagnosticsBundleFileSchema = z.object({
  path: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
});
export type DiagnosticsBundleFile = z.infer<typeof DiagnosticsBundleFileSchema>;

/** What the control plane answered to an upload: stored, or why not (the bundle itself is not lost). */
export const DiagnosticsSentSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), receivedAt: z.string(), size: z.number().int().nonnegative() }),
  z.object({ ok: z.literal(false), error: ErrorBodySchema }),
]);
export type DiagnosticsSent = z.infer<typeof DiagnosticsSentSchema>;

export const CreateDiagnosticsBundleOutputSchema = z.object({
  id: DiagnosticsBundleIdSchema,
  /** A suggested file name, e.g. openir-diagnostics-OIR-7K2M9Q4XH3VD.zip. */
  fileName: z.string(),
  createdAt: z.string(),
  /** The zip, base64. */
  content: z.string(),
  size: z.number().int().nonnegative(),
  files: z.array(DiagnosticsBundleFileSchema),
  /** null unless `send` was asked. */
  sent: DiagnosticsSentSchema.nullable(),
});
export type CreateDiagnosticsBundleOutput = z.infer<typeof CreateDiagnosticsBundleOutputSchema>;

/** What the control plane keeps per received bundle (its diagnostics index). */
export const ReceivedDiagnosticsSchema = z.object({
  id: DiagnosticsBundleIdSchema,
  nodeId: z.string(),
  nodeName: z.string(),
  irId: z.string(),
  irName: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  receivedAt: z.string(),
});
export type ReceivedDiagnostics = z.infer<typeof ReceivedDiagnosticsSchema>;

/** Every value that stands for a secret in the bundle. */
export const REDACTED = '[redacted]';

export const diagnosticsFileName = (id: string): string => `openir-diagnostics-${id}.zip`;
