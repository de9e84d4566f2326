import { z } from 'zod';
import { IrNodeInfoSchema } from './controlPlaneApi';
import { ErrorBodySchema } from './errors';
import { NodeStatusSchema } from './status';
import { VersionStandingSchema } from './versionPolicy';

/**
 * The host's report of itself (`getStatus`, `statusChanged`): the one status
 * every face shows, with the secret store it keeps secrets in.
 */

/** Where the secret vault keeps its key, and how strong that is; the UI warns on `weak`. */
export const VaultBackendSchema = z.object({
  id: z.enum(['secret-service', 'keychain', 'dpapi', 'electron-safe-storage', 'encrypted-file']),
  label: z.string(),
  strength: z.enum(['strong', 'weak']),
  description: z.string(),
});
export type VaultBackend = z.infer<typeof VaultBackendSchema>;

export const StatusReportSchema = z.object({
  status: NodeStatusSchema,
  registered: z.boolean(),
  serviceRunning: z.boolean(),
  version: z.string(),
  ir: z
    .object({
      id: z.string(),
      name: z.string(),
      /** The data factories this IR is shared with (Home: "Shared with: B, C"); absent when none. */
      sharedWith: z.array(z.string()).optional(),
    })
    .nullable(),
  node: z.object({ id: z.string(), name: z.string(), fqdn: z.string() }).nullable(),
  controlPlane: z.object({ endpoint: z.string() }).nullable(),
  connectedSince: z.string().nullable(),
  lastError: ErrorBodySchema.nullable(),
  jobs: z.object({ running: z.number().int().nonnegative(), limit: z.number().int().positive() }),
  system: z.object({
    cpuPercent: z.number(),
    memoryUsedBytes: z.number(),
    memoryTotalBytes: z.number(),
  }),
  vault: VaultBackendSchema,
  irNodes: z.array(IrNodeInfoSchema),
  /**
   * `SHA256:…` of this node's credential-sync key, once registered: the
   * admin compares it before `openir-control-plane ir approve --fingerprint`.
   */
  syncKeyFingerprint: z.string().nullable().optional(),
  host: z.object({ pid: z.number().int(), dataDir: z.string(), startedAt: z.string() }),
  /**
   * This version against the control plane's version policy: an update
   * available, the expiry date (from 90 days before), whether it is refused.
   * Null until the control plane has told one (or none is set).
   */
  versionStanding: VersionStandingSchema.nullable().optional(),
  /**
   * A drain (`openir drain`, Settings › Drain and stop, or `ir drain` on the
   * control plane): 'draining' while running jobs finish (no new ones), then
   * 'stopped' once the service stopped. Null otherwise.
   */
  drain: z
    .object({
      state: z.enum(['draining', 'stopped']),
      startedAt: z.string(),
      /** Where it came from: this node, or the control plane's `ir drain`. */
      requestedBy: z.enum(['node', 'controlPlane']),
    })
    .nullable()
    .optional(),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

/** CPU and memory of this machine (`systemSampled`): the report's `system` part, pushed on its own. */
export const SystemSampleSchema = StatusReportSchema.shape.system;
export type SystemSample = z.infer<typeof SystemSampleSchema>;
