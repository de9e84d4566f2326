import { z } from 'zod';

/**
 * Remote access from intranet, as the reference product has it: Disabled,
 * Enabled without TLS (not recommended), Enabled with a TLS/SSL certificate;
 * TCP port 8060 by default. Peers use it for credential sync and health;
 * intranet clients use it to encrypt data store credentials on the node.
 */
export const REMOTE_ACCESS_MODES = ['disabled', 'plain', 'tls'] as const;
export const RemoteAccessModeSchema = z.enum(REMOTE_ACCESS_MODES);
export type RemoteAccessMode = z.infer<typeof RemoteAccessModeSchema>;

export const DEFAULT_REMOTE_ACCESS_PORT = 8060;

export const RemoteAccessPortSchema = z
  .number({ message: 'Enter a port.' })
  .int('The port is a whole number.')
  .min(1, 'The port is from 1 to 65535.')
  .max(65535, 'The port is from 1 to 65535.');

export const RemoteAccessSettingsSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('disabled') }).strict(),
  z.object({ mode: z.literal('plain'), port: RemoteAccessPortSchema }).strict(),
  z
    .object({
      mode: z.literal('tls'),
      port: RemoteAccessPortSchema,
      /** SHA-1 thumbprint (hex) of a certificate in this node's store. */
      thumbprint: z.string().regex(/^[0-9a-fA-F]{40}$/, 'Choose a certificate (its SHA-1 thumbprint).'),
    })
    .strict(),
]);
export type RemoteAccessSettings = z.infer<typeof RemoteAccessSettingsSchema>;

export const RemoteAccessViewSchema = z.object({
  settings: RemoteAccessSettingsSchema,
  /** True while the listener is up. */
  listening: z.boolean(),
  /** What peers and intranet clients use, e.g. https://node1.corp:8060, or null when disabled. */
  url: z.string().nullable(),
  /** Why it may be changed or not (HA: only while the IR has a single node). */
  changeAllowed: z.boolean(),
  changeBlockedReason: z.string().nullable(),
  warning: z.string().nullable(),
});
export type RemoteAccessView = z.infer<typeof RemoteAccessViewSchema>;

export const REMOTE_ACCESS_PATHS = {
  health: '/openir/v1/health',
  encryptCredential: '/openir/v1/credentials/encrypt',
  /** Node-to-node credential sync (sealed for the peer; see core/peerSync). */
  peerSync: '/openir/v1/peers/sync',
} as const;

export const EncryptCredentialRequestSchema = z
  .object({
    value: z
      .string()
      .min(1)
      .max(64 * 1024),
  })
  .strict();
export const EncryptCredentialResponseSchema = z.object({ encrypted: z.string(), nodeName: z.string() });

export const PLAIN_REMOTE_ACCESS_WARNING =
  'Remote access without TLS is not recommended: credentials sent by intranet clients and peer nodes cross the network unencrypted. Use a TLS certificate.';

/** `host` is the node's FQDN, or the address it advertises to peers (OPENIR_ADVERTISE_HOST). */
export function remoteAccessUrl(settings: RemoteAccessSettings, host: string): string | null {
  if (settings.mode === 'disabled') return null;
  const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${settings.mode === 'tls' ? 'https' : 'http'}://${name}:${settings.port}`;
}
