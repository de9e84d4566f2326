import { z } from 'zod';

/**
 * The control plane's version policy (`openir-control-plane version set`):
 * the latest version nodes should run, the oldest one it still accepts, and
 * the dates after which given versions are refused. Nodes learn it in the
 * welcome and every heartbeat acknowledgement; the control plane enforces it
 * at registration and on the control channel.
 */

/** `major.minor.patch`, with an optional pre-release tag (`0.2.0-rc.1`). */
export const VersionTextSchema = z
  .string()
  .regex(
    /^\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z.-]{1,30})?$/,
    'A version is major.minor.patch, e.g. 0.2.0.',
  );

/** A calendar date, `YYYY-MM-DD`; the version is refused from 00:00 UTC that day. */
export const ExpiryDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'A date is YYYY-MM-DD, e.g. 2027-12-31.')
  .refine((text) => {
    const ms = Date.parse(`${text}T00:00:00Z`);
    return Number.isFinite(ms) && new Date(ms).toISOString().startsWith(text);
  }, 'Not a real calendar date.');

export const VersionPolicySchema = z.object({
  latest: VersionTextSchema,
  /** Versions below it are refused like expired ones; null: no minimum. */
  minimum: VersionTextSchema.nullable(),
  expires: z.array(z.object({ version: VersionTextSchema, on: ExpiryDateSchema })).max(200),
  /** When an admin last set it (ISO). */
  updatedAt: z.string(),
});
export type VersionPolicy = z.infer<typeof VersionPolicySchema>;

/** The reference product warns this long before a version expires. */
export const EXPIRY_WARNING_DAYS = 90;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Orders two versions: negative, zero or positive. A pre-release sorts before
 * its release (0.2.0-rc.1 < 0.2.0); pre-release tags compare as text.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core = '', pre] = v.split(/-(.*)/s, 2);
    return { parts: core.split('.').map((n) => Number(n) || 0), pre: pre ?? null };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < 3; i += 1) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** What the policy says of one version now; the node shows it and the control plane enforces `refused`. */
export const VersionStandingSchema = z.object({
  /** The version this standing is about. */
  version: z.string(),
  latest: z.string(),
  /** `latest` when it is newer than this version, else null. */
  updateAvailable: z.string().nullable(),
  /** The date this version is refused from (YYYY-MM-DD), once within the warning window or past it. */
  expiresOn: z.string().nullable(),
  /** Why the control plane refuses this version, or null while it accepts it. */
  refused: z.enum(['expired', 'belowMinimum']).nullable(),
  minimum: z.string().nullable(),
});
export type VersionStanding = z.infer<typeof VersionStandingSchema>;

export function versionStanding(policy: VersionPolicy, version: string, nowMs: number): VersionStanding {
  const expiry = policy.expires.find((e) => e.version === version) ?? null;
  const expiryMs = expiry ? Date.parse(`${expiry.on}T00:00:00Z`) : null;
  const expired = expiryMs !== null && nowMs >= expiryMs;
  const belowMinimum = policy.minimum !== null && compareVersions(version, policy.minimum) < 0;
  return {
    version,
    latest: policy.latest,
    updateAvailable: compareVersions(policy.latest, version) > 0 ? policy.latest : null,
    expiresOn:
      expiry && expiryMs !== null && nowMs >= expiryMs - EXPIRY_WARNING_DAYS * DAY_MS ? expiry.on : null,
    refused: expired ? 'expired' : belowMinimum ? 'belowMinimum' : null,
    minimum: policy.minimum,
  };
}

/**
 * The version most nodes of an IR run, or null when no single version has
 * more nodes than every other (a tie, e.g. one node of each during a
 * two-node rolling update): then no node is marked.
 */
export function majorityVersion(versions: readonly string[]): string | null {
  const counts = new Map<string, number>();
  for (const v of versions) counts.set(v, (counts.get(v) ?? 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const [first, second] = ranked;
  if (!first || (second && second[1] === first[1])) return null;
  return first[0];
}

/** The words for a refusal: the message both sides show, and the fix. */
export function versionRefusal(standing: VersionStanding): { message: string; fix: string } {
  const fix = `Update OpenIR on this node to ${standing.latest} (stop it with \`openir drain\` first so running jobs finish), then start it again.`;
  if (standing.refused === 'belowMinimum') {
    return {
      message: `OpenIR ${standing.version} is older than the oldest version this control plane accepts (${standing.minimum ?? '?'}).`,
      fix,
    };
  }
  return {
    message: `OpenIR ${standing.version} expired on ${standing.expiresOn ?? '?'}: the control plane no longer accepts it.`,
    fix,
  };
}
