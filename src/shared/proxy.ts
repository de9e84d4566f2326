import { z } from 'zod';
import { hasControlCharacter } from './credentials';
import { ErrorBodySchema } from './errors';

/**
 * HTTP proxy settings as the reference product has them: Do not use proxy,
 * Use system proxy, Use custom proxy. The password is never part of these
 * objects on the way out; it lives in the vault and is only reported as set.
 */
export const PROXY_MODES = ['none', 'system', 'custom'] as const;
export const ProxyModeSchema = z.enum(PROXY_MODES);
export type ProxyMode = z.infer<typeof ProxyModeSchema>;

const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;
/** An IPv6 literal has at least two colons; "host:port" and "1.2.3.4:80" have one. */
const isIpv6 = (value: string): boolean => IPV6_RE.test(value) && (value.match(/:/g) ?? []).length >= 2;

export const ProxyAddressSchema = z
  .string()
  .trim()
  .min(1, 'Enter the proxy address.')
  .max(253)
  .refine((value) => !/^[a-z]+:\/\//i.test(value), 'Enter the host name or IP address only, without http://.')
  .refine((value) => HOST_RE.test(value) || isIpv6(value.replace(/^\[|\]$/g, '')), {
    message: 'Enter a host name or IP address, without a port.',
  });

export const ProxyPortSchema = z
  .number({ message: 'Enter the proxy port.' })
  .int('The port is a whole number.')
  .min(1, 'The port is from 1 to 65535.')
  .max(65535, 'The port is from 1 to 65535.');

export const ProxyUserSchema = z
  .string()
  .max(256)
  // Control characters too: the name goes into a Proxy-Authorization header and the UI.
  .regex(/^[^:]*$/, 'The user name cannot contain ":".')
  .refine((value) => !hasControlCharacter(value), 'The user name cannot contain control characters.');

/** What is stored in config (no password). */
export const ProxySettingsSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }),
  z.object({ mode: z.literal('system') }),
  z.object({
    mode: z.literal('custom'),
    address: ProxyAddressSchema,
    port: ProxyPortSchema,
    user: ProxyUserSchema.optional(),
  }),
]);
export type ProxySettings = z.infer<typeof ProxySettingsSchema>;

/**
 * What a face sends to change or test the proxy. `password`: a string sets it,
 * null clears it, absent keeps the stored one.
 */
export const ProxyInputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }).strict(),
  z.object({ mode: z.literal('system') }).strict(),
  z
    .object({
      mode: z.literal('custom'),
      address: ProxyAddressSchema,
      port: ProxyPortSchema,
      user: ProxyUserSchema.optional(),
      password: z.string().max(1024).nullable().optional(),
    })
    .strict(),
]);
export type ProxyInput = z.infer<typeof ProxyInputSchema>;

export const ProxyRouteSchema = z.object({
  kind: z.enum(['direct', 'proxy']),
  /** `http://host:port` of the proxy in use, without credentials. */
  proxy: z.string().nullable(),
  /** Why this route: "Do not use proxy", "HTTPS_PROXY", "NO_PROXY matches", "custom proxy", … */
  reason: z.string(),
});
export type ProxyRoute = z.infer<typeof ProxyRouteSchema>;

export const ProxyViewSchema = z.object({
  settings: ProxySettingsSchema,
  hasPassword: z.boolean(),
  /** The route traffic to the control plane takes now (null before registration). */
  route: ProxyRouteSchema.nullable(),
});
export type ProxyView = z.infer<typeof ProxyViewSchema>;

export const PROXY_TEST_STEPS = ['resolve', 'connect', 'tunnel', 'tls', 'controlPlane'] as const;
export const ProxyTestStepSchema = z.object({
  step: z.enum(PROXY_TEST_STEPS),
  label: z.string(),
  ok: z.boolean(),
  ms: z.number().nonnegative(),
  detail: z.string(),
});
export type ProxyTestStep = z.infer<typeof ProxyTestStepSchema>;

export const ProxyTestReportSchema = z.object({
  ok: z.boolean(),
  target: z.string(),
  route: ProxyRouteSchema,
  steps: z.array(ProxyTestStepSchema),
  /** The first failing step's error with its fix. */
  error: ErrorBodySchema.nullable(),
});
export type ProxyTestReport = z.infer<typeof ProxyTestReportSchema>;

/** A control plane to try instead of the registered one (e.g. from a pasted key before registration). */
export const ControlPlaneTargetSchema = z
  .object({
    // The control plane is only ever https://host:port (as in an auth key); a test must not probe file: or ftp: URLs.
    endpoint: z
      .string()
      .url()
      .refine(
        (url) => /^https:\/\/[^/?#@]+\/?$/i.test(url),
        'The control plane URL must be https://host:port.',
      ),
    pin: z.string().min(1).max(1024),
  })
  .strict();

/** What `testProxy` takes: a setting and a control plane to try, each defaulting to the saved one. */
export const TestProxyInputSchema = z
  .object({
    /** Settings to try; the saved ones when absent. */
    proxy: ProxyInputSchema.optional(),
    /** The control plane to reach; the registered one when absent. */
    target: ControlPlaneTargetSchema.optional(),
  })
  .strict();

/** NO_PROXY as curl reads it: "*", host names matching as suffixes, optional ports, exact IPs. */
export function matchesNoProxy(noProxy: string, host: string, port: number): boolean {
  const target = host.toLowerCase().replace(/^\[|\]$/g, '');
  return noProxy
    .split(/[,\s]+/)
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      let name = entry;
      let entryPort: number | null = null;
      const withPort = /^(.*?):(\d+)$/.exec(entry);
      if (withPort && !entry.startsWith('[') && (withPort[1] ?? '').split(':').length === 1) {
        name = withPort[1] ?? '';
        entryPort = Number(withPort[2]);
      }
      name = name.replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
      if (entryPort !== null && entryPort !== port) return false;
      return target === name || target.endsWith(`.${name}`);
    });
}
