import { describe, expect, it } from 'vitest';
import { formatAuthKey, parseAuthKey, redactAuthKeys, type AuthKey } from '../../src/shared/authKey';
import { OpenIrError } from '../../src/shared/errors';

const good: AuthKey = {
  irId: '3f2a9c1e-7b4d-4e0a-9a55-0c1d2e3f4a5b',
  irName: 'sales-ir',
  endpoint: 'https://cp.example.test:8443',
  pin: 'q1Z9oXcKk3mJ0fT7u2H5sYb8nR4wE6dA1cV0xL9pQ2M=',
  secret: 'Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg',
};

function codeOf(text: string): string {
  try {
    parseAuthKey(text);
  } catch (error) {
    expect(error).toBeInstanceOf(OpenIrError);
    return (error as OpenIrError).code;
  }
  return 'NO_ERROR';
}

describe('auth key', () => {
  it('round-trips through format and parse', () => {
    expect(parseAuthKey(formatAuthKey(good))).toEqual(good);
  });

  it('tolerates surrounding whitespace from a paste', () => {
    expect(parseAuthKey(`  ${formatAuthKey(good)}\n`).secret).toBe(good.secret);
  });

  it('normalises the endpoint to its origin', () => {
    expect(parseAuthKey(formatAuthKey({ ...good, endpoint: 'https://CP.example.test:8443/' })).endpoint).toBe(
      'https://cp.example.test:8443',
    );
  });

  it.each([
    ['', 'AUTH_KEY_EMPTY'],
    ['   ', 'AUTH_KEY_EMPTY'],
    ['garbage', 'AUTH_KEY_WRONG_PREFIX'],
    [formatAuthKey(good).replace(/^IR@/, 'XX@'), 'AUTH_KEY_WRONG_PREFIX'],
    [formatAuthKey(good).replace(/@[^@]+$/, ''), 'AUTH_KEY_MALFORMED'],
    [formatAuthKey(good) + '@extra', 'AUTH_KEY_MALFORMED'],
    [formatAuthKey({ ...good, secret: 'short' }), 'AUTH_KEY_MALFORMED'],
    [formatAuthKey({ ...good, irId: '!' }), 'AUTH_KEY_MALFORMED'],
    [formatAuthKey(good).replace('ServiceEndpoint=', 'Endpoint='), 'AUTH_KEY_MALFORMED'],
    [formatAuthKey({ ...good, endpoint: 'http://cp.example.test:8443' }), 'AUTH_KEY_BAD_ENDPOINT'],
    [formatAuthKey({ ...good, endpoint: 'not a url' }), 'AUTH_KEY_BAD_ENDPOINT'],
    [formatAuthKey({ ...good, endpoint: 'https://cp.example.test/path' }), 'AUTH_KEY_BAD_ENDPOINT'],
    [formatAuthKey({ ...good, pin: 'abc' }), 'AUTH_KEY_BAD_PIN'],
    [formatAuthKey(good).replace('Pin=', 'Pn='), 'AUTH_KEY_MALFORMED'],
  ])('rejects %j with %s', (text, code) => {
    expect(codeOf(text)).toBe(code);
  });

  it('every rejection carries a fix for the user', () => {
    try {
      parseAuthKey('IR@x');
    } catch (error) {
      expect((error as OpenIrError).fix).toMatch(/\w+/);
      return;
    }
    throw new Error('expected a rejection');
  });

  it('redacts the secret of keys inside free text', () => {
    const text = `user pasted ${formatAuthKey(good)} into the box`;
    const redacted = redactAuthKeys(text);
    expect(redacted).not.toContain(good.secret);
    expect(redacted).toContain('[REDACTED]');
    expect(redacted).toContain(good.irName);
  });
});
