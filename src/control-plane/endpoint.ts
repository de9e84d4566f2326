import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { OpenIrError } from '../shared/errors';

/**
 * The address auth keys send nodes to. A wildcard bind address is no address
 * a node can dial, so the machine's name stands in for it.
 */
export function defaultPublicEndpoint(host: string, port: number, machineName: string = hostname()): string {
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  const name = wildcard ? machineName : host;
  return `https://${isIP(name) === 6 ? `[${name}]` : name}:${port}`;
}

/** Nodes accept only https://host:port (see parseAuthKey), so refuse anything else before it goes into a key. */
export function normalizePublicEndpoint(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(text);
  }
  const bare =
    !url.username &&
    !url.password &&
    (url.pathname === '/' || url.pathname === '') &&
    !url.search &&
    !url.hash;
  if (url.protocol !== 'https:' || !bare) throw invalid(text);
  return url.origin;
}

const invalid = (text: string) =>
  new OpenIrError('INVALID_INPUT', `--public-endpoint must look like https://host:port, not '${text}'.`, {
    fix: 'Give the address nodes use to reach this control plane, e.g. https://cp.example.com:8443.',
  });
