import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger, Redactor } from '../../src/core/logger';
import { RemoteAccessListener } from '../../src/core/remoteAccess';
import { formatSealHeader, PEER_SEAL_HEADER } from '../../src/core/remoteAccessSealHeader';
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
    synced.length = 0;
  });

  const synced: unknown[] = [];
  async function start(encryptPerMinute: number, clock: () => number) {
    const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('remote-access');
    let encrypted = 0;
    listener = new RemoteAccessListener({
      bindHost: '127.0.0.1',
      health: () => ({ nodeName: 'secret-node', irName: 'secret-ir', version: '9.9.9', state: 'Online' }),
      encrypt: async (value) => `openir:v1:${(encrypted += 1)}:${value.length}`,
      log,
      peerSync: async (body) => {
        synced.push(body);
        return { answered: true };
      },
      nodeId: () => 'node-b',
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

  /**
   * Sends a sync request's head with a Content-Length but never its body, and
   * resolves with the first line of the answer. A listener that waits for the
   * body never answers (the test then times out); one that checks the seal
   * header first answers at once.
   */
  function headOnly(
    base: string,
    headers: Record<string, string>,
  ): Promise<{ status: string; text: string }> {
    const { port } = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        const end = text.indexOf('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? NaN);
        if (end >= 0 && text.length >= end + 4 + length) {
          socket.destroy();
          resolve({ status: text.split('\r\n')[0] as string, text });
        }
      });
      socket.on('error', reject);
      const lines = Object.entries({
        'content-type': 'application/json',
        'content-length': '100000',
        ...headers,
      });
      socket.write(
        `POST ${REMOTE_ACCESS_PATHS.peerSync} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${lines
          .map(([k, v]) => `${k}: ${v}`)
          .join('\r\n')}\r\n\r\n`,
      );
    });
  }

  it('refuses a sync request with no, a malformed, a misaddressed or a stale seal header before reading its body', async () => {
    const now = 1_700_000_000_000;
    const base = await start(30, () => now);
    // A node of OpenIR 0.1 sends no header: it is told to update (409), the others are refused (403).
    const cases: [string, Record<string, string>, string, string?][] = [
      ['missing', {}, 'HPKE', 'PEER_SYNC_OUTDATED'],
      ['malformed', { [PEER_SEAL_HEADER]: 'from=a; to=node-b; at=soon' }, 'malformed'],
      [
        'misaddressed',
        { [PEER_SEAL_HEADER]: formatSealHeader({ from: 'node-a', to: 'node-c', at: now }) },
        'not addressed to this node',
      ],
      [
        'stale',
        { [PEER_SEAL_HEADER]: formatSealHeader({ from: 'node-a', to: 'node-b', at: now - 6 * 60_000 }) },
        'refused as stale',
      ],
    ];
    for (const [name, headers, says, code = 'PEER_SYNC_REFUSED'] of cases) {
      const answer = await headOnly(base, headers);
      expect(answer.status, name).toBe(
        code === 'PEER_SYNC_OUTDATED' ? 'HTTP/1.1 409 Conflict' : 'HTTP/1.1 403 Forbidden',
      );
      const body = JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)) as {
        error: { code: string; message: string; fix?: string };
      };
      expect(body.error.code, name).toBe(code);
      expect(body.error.message, name).toContain(says);
      expect(body.error.fix, name).toBeTruthy();
    }
    expect(synced).toEqual([]);
  });

  it('hands a request with a valid seal header on, and refuses a body that does not match it', async () => {
    const now = 1_700_000_000_000;
    const base = await start(30, () => now);
    const header = { from: 'node-a', to: 'node-b', at: now - 60_000 };
    const post = (body: unknown) =>
      fetch(`${base}${REMOTE_ACCESS_PATHS.peerSync}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [PEER_SEAL_HEADER]: formatSealHeader(header) },
        body: JSON.stringify(body),
      });
    const other = await post({ ...header, at: now, data: 'x' });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: { message: string } }).error.message).toContain(
      'does not match',
    );
    expect(synced).toEqual([]);
    const ok = await post({ ...header, data: 'x' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ answered: true });
    expect(synced).toEqual([{ ...header, data: 'x' }]);
  });
});
