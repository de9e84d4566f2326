import net from 'node:net';
import { OpenIrError } from '../shared/errors';

/*
 * Where a connection goes and what a failed one means to the user. Its own
 * module because both the connector (direct or through the proxy) and the
 * pinned-TLS checks need it, and neither should import the other for it.
 */

export interface EndpointTarget {
  host: string;
  port: number;
  servername: string | undefined;
}

/** A socket error in words a user can act on; shared by the control plane and proxy errors. */
export function socketFailureReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (is it running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'its host name could not be resolved';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    default:
      return code ? `the network said ${code}` : ((error as Error).message ?? String(error));
  }
}

export function endpointTarget(endpoint: string): EndpointTarget {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // URL drops a port that is the scheme's default.
  const port = Number(url.port || (url.protocol === 'http:' ? 80 : 443));
  return { host, port, servername: net.isIP(host) ? undefined : host };
}

/** Maps a socket-level failure to the error a user can act on. */
export function connectionError(endpoint: string, error: unknown): OpenIrError {
  if (error instanceof OpenIrError) return error;
  const err = error as NodeJS.ErrnoException;
  const code = err.code ?? '';
  if (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'ENOTFOUND',
      'EAI_AGAIN',
      'ETIMEDOUT',
      'EPIPE',
    ].includes(code)
  ) {
    const why = socketFailureReason(err);
    return new OpenIrError(
      'CONTROL_PLANE_UNREACHABLE',
      `Cannot reach the control plane at ${endpoint}: ${why}.`,
      {
        fix: 'Check that the control plane is running and that this machine can reach it (firewall, proxy settings).',
        cause: error,
      },
    );
  }
  if (code.startsWith('ERR_SSL') || code.includes('CERT') || /SSL|TLS|certificate/i.test(err.message ?? '')) {
    return new OpenIrError(
      'CONTROL_PLANE_TLS_FAILED',
      `The TLS handshake with ${endpoint} failed: ${err.message}.`,
      {
        fix: 'Check that the endpoint in the key is the control plane itself and not a plain-HTTP or other service.',
        cause: error,
      },
    );
  }
  return new OpenIrError(
    'CONTROL_PLANE_UNREACHABLE',
    `Cannot reach the control plane at ${endpoint}: ${err.message ?? String(error)}.`,
    {
      fix: 'Check that the control plane is running and reachable from this machine.',
      cause: error,
    },
  );
}
