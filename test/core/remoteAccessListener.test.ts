import { afterEach, describe, expect, it } from 'vitest';
import { Logger, Redactor } from '../../src/core/logger';
import { RemoteAccessListener } from '../../src/core/remoteAccess';
import { REMOTE_ACCESS_PATHS } from '../../src/shared/remoteAccess';
import { freePort } from '../helpers/node';

/**
 * The remote-access listener as the intranet sees it (security review):
 * health says only that the node answers, and one address may ask for a
 * limited number of credential encryptions per minute. A real listener on
 * loopback, plain HTTP.
 */
describe('remote-access listener', () => {
  let listener: RemoteAccessListener | null = null;
  afterEach(async () => {
    await listener?.stop();
    listener = null;
  });

  async function start(encryptPerMinute: number, clock: () => number) {
    const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('remote-access');
    let encrypted = 0;
    listener = new RemoteAccessListener({
      bindHost: '127.0.0.1',
      health: () => ({ nodeName: 'secret-node', irName: 'secret-ir', version: '9.9.9', state: 'Online' }),
      encrypt: async (value) => `openir:v1:${(encrypted += 1)}:${value.length}`,
      log,
      encryptPerMinute,
      clock,
    });
    const port = await freePort();
    await listener.start({ mode: 'plain', port }, null);
    return `http://127.0.0.1:${port}`;
  }

  it('health tells only that the node answers', async () => {
    const base = await start(30, Date.now);
    const res = await fetch(`${base}${REMOTE_ACCESS_PATHS.health}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'ok' });
    for (const leak of ['secret-node', 'secret-ir', '9.9.9']) expect(text).not.toContain(leak);
  });

  it('refuses encryptions past the per-minute limit with 429 RATE_LIMITED, and allows them again a minute later', async () => {
    let now = 1_000_000;
    const base = await start(3, () => now);
    const encrypt = () =>
      fetch(`${base}${REMOTE_ACCESS_PATHS.encryptCredential}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: 'hunter2' }),
      });
    for (let i = 0; i < 3; i += 1) expect((await encrypt()).status).toBe(200);
    const refused = await encrypt();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    now += 60_000;
    expect((await encrypt()).status).toBe(200);
  });

  it('refuses a body over the limit before reading it (413)', async () => {
    const base = await start(30, Date.now);
    const res = await fetch(`${base}${REMOTE_ACCESS_PATHS.encryptCredential}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'x'.repeat(200 * 1024) }),
    });
    expect(res.status).toBe(413);
  });
});
