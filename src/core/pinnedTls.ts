import { createHash, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { OpenIrError } from '../shared/errors';
import type { Connector } from './connector';
import { connectionError } from './endpoint';

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the pin carried in auth keys. */
export function publicKeyPin(certDerOrPem: Buffer | string): string {
  const spki = new X509Certificate(certDerOrPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * TLS options for every later connection to a registered control plane: the
 * chain seen at registration is the trust anchor, and the pin is checked again
 * on every handshake. Host names are not checked: the key names the endpoint
 * and the pin proves its identity, which is stronger than a name match.
 */
export function pinnedTlsOptions(caPem: string, pin: string): tls.ConnectionOptions {
  return {
    ca: caPem,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      const actual = publicKeyPin(cert.raw);
      return actual === pin ? undefined : pinMismatch(pin, actual);
    },
  };
}

function pinMismatch(expected: string, actual: string): Error {
  return new OpenIrError(
    'CONTROL_PLANE_TLS_PIN_MISMATCH',
    `The control plane presented a TLS key that does not match the pin in the authentication key (expected ${expected}, got ${actual}).`,
    {
      fix: 'Something between this node and the control plane (a TLS-inspecting proxy or an attacker) is intercepting the connection, or the control plane changed its key. Do not continue; ask the control plane administrator for a current key.',
    },
  );
}

/**
 * First contact with a control plane named by an auth key: handshake without
 * CA verification (it is usually self-signed), check its key against the pin,
 * and send nothing. Returns the chain to trust from then on.
 */
export async function probeControlPlane(
  endpoint: string,
  pin: string,
  connector: Connector,
): Promise<{ caPem: string }> {
  const socket = await connector.connectTls(endpoint, { rejectUnauthorized: false });
  const leaf = socket.getPeerCertificate(true);
  socket.end();
  if (!leaf?.raw) throw connectionError(endpoint, new Error('The server presented no certificate'));
  const actual = publicKeyPin(leaf.raw);
  if (actual !== pin) throw pinMismatch(pin, actual);
  return { caPem: chainPem(leaf) };
}

function chainPem(leaf: tls.DetailedPeerCertificate): string {
  const pems: string[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = leaf;
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    pems.push(new X509Certificate(cert.raw).toString());
    cert = cert.issuerCertificate;
  }
  // A chain that does not end in a self-signed root needs the public roots to verify.
  const top = pems.length > 0 ? new X509Certificate(pems[pems.length - 1] as string) : null;
  if (top && top.issuer !== top.subject) pems.push(...tls.rootCertificates);
  return pems.join('\n');
}
