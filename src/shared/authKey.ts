import { OpenIrError } from './errors';

/**
 * An authentication key is self-describing, so pasting it is all a node needs
 * to find, trust and join its IR:
 *   IR@<irId>@<irName>@ServiceEndpoint=<https://host:port>@Pin=<base64 sha256 of SPKI>@<secret>
 */
export interface AuthKey {
  irId: string;
  irName: string;
  endpoint: string;
  /** base64 of the SHA-256 of the control plane's TLS SubjectPublicKeyInfo (as in HPKP). */
  pin: string;
  secret: string;
}

const PREFIX = 'IR';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{2,63}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$/;
const PIN_RE = /^[A-Za-z0-9+/]{43}=$/;
const SECRET_RE = /^[A-Za-z0-9_-]{32,128}$/;

export function isValidIrName(name: string): boolean {
  return NAME_RE.test(name);
}

const malformed = (why: string) =>
  new OpenIrError('AUTH_KEY_MALFORMED', `The authentication key is malformed: ${why}.`, {
    fix: 'Copy the whole key again from the control plane (`openir-control-plane ir keys <name>`), without spaces or line breaks.',
  });

export function parseAuthKey(raw: string): AuthKey {
  const text = raw.trim();
  if (text === '') {
    throw new OpenIrError('AUTH_KEY_EMPTY', 'No authentication key was given.', {
      fix: 'Paste the key of your integration runtime from the control plane.',
    });
  }
  const parts = text.split('@');
  if (parts[0] !== PREFIX) {
    throw new OpenIrError('AUTH_KEY_WRONG_PREFIX', `The authentication key must start with "${PREFIX}@".`, {
      fix: 'This does not look like an OpenIR integration runtime key; copy key1 or key2 of the IR from the control plane.',
    });
  }
  if (parts.length !== 6) throw malformed(`expected 6 parts separated by "@", found ${parts.length}`);
  const [, irId, irName, endpointPart, pinPart, secret] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!ID_RE.test(irId)) throw malformed('the IR id is not valid');
  if (!NAME_RE.test(irName)) throw malformed('the IR name is not valid');

  if (!endpointPart.startsWith('ServiceEndpoint=')) throw malformed('the "ServiceEndpoint=" part is missing');
  const endpointText = endpointPart.slice('ServiceEndpoint='.length);
  let url: URL;
  try {
    url = new URL(endpointText);
  } catch {
    throw new OpenIrError(
      'AUTH_KEY_BAD_ENDPOINT',
      `The service endpoint "${endpointText}" in the key is not a URL.`,
      {
        fix: 'Copy the key again; the endpoint must look like https://host:port.',
      },
    );
  }
  if (url.protocol !== 'https:') {
    throw new OpenIrError(
      'AUTH_KEY_BAD_ENDPOINT',
      `The service endpoint must use https, not ${url.protocol.replace(':', '')}.`,
      {
        fix: 'Control planes are only reached over TLS; ask the control plane administrator for a current key.',
      },
    );
  }
  if (
    url.username ||
    url.password ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  ) {
    throw new OpenIrError('AUTH_KEY_BAD_ENDPOINT', 'The service endpoint must be only https://host:port.', {
      fix: 'Copy the key again from the control plane.',
    });
  }

  if (!pinPart.startsWith('Pin=')) throw malformed('the "Pin=" part is missing');
  const pin = pinPart.slice('Pin='.length);
  if (!PIN_RE.test(pin)) {
    throw new OpenIrError('AUTH_KEY_BAD_PIN', 'The TLS pin in the key is not a base64 SHA-256 value.', {
      fix: 'Copy the key again from the control plane; the pin must be 44 characters ending in "=".',
    });
  }
  if (!SECRET_RE.test(secret)) throw malformed('the secret part is missing or too short');
  return { irId, irName, endpoint: url.origin, pin, secret };
}

export function formatAuthKey(key: AuthKey): string {
  return `${PREFIX}@${key.irId}@${key.irName}@ServiceEndpoint=${key.endpoint}@Pin=${key.pin}@${key.secret}`;
}

/** Replaces the secret of anything that looks like an auth key, for logs and error messages. */
export function redactAuthKeys(text: string): string {
  return text.replace(/(IR@[^@\s]*@[^@\s]*@ServiceEndpoint=[^@\s]*@Pin=[^@\s]*@)[^\s"']+/g, '$1[REDACTED]');
}
