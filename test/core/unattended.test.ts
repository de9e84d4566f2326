import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePlan, takeUnattendedEnv } from '../../src/core/unattended';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

const KEY = `IR@ir-0001@ops@ServiceEndpoint=https://cp.test:8443@Pin=${'A'.repeat(43)}=@${'s'.repeat(43)}`;

describe('the unattended variables', () => {
  afterAll(cleanupTempDirs);

  it('are read once, and OPENIR_AUTH_KEY is deleted from the environment it came from', () => {
    const env: NodeJS.ProcessEnv = { OPENIR_AUTH_KEY: KEY, OPENIR_NODE_NAME: 'edge-1', PATH: '/bin' };
    expect(takeUnattendedEnv(env)).toEqual({ OPENIR_AUTH_KEY: KEY, OPENIR_NODE_NAME: 'edge-1' });
    expect(env).toEqual({ OPENIR_NODE_NAME: 'edge-1', PATH: '/bin' });
    // Without a key there is no unattended start, whatever else is set.
    expect(takeUnattendedEnv({ OPENIR_NODE_NAME: 'edge-1' })).toBeNull();
  });

  it('become a plan: key from a file with CRLF, custom proxy with its password file, plain remote access', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'key'), `${KEY}\r\n`);
    fs.writeFileSync(path.join(dir, 'proxy.pass'), 'p@ss word\n');
    const { plan, problems } = await resolvePlan({
      OPENIR_AUTH_KEY_FILE: path.join(dir, 'key'),
      OPENIR_REPLACE_NODE: '1',
      OPENIR_REMOTE_ACCESS: 'plain',
      OPENIR_PROXY: 'custom',
      OPENIR_PROXY_ADDRESS: 'proxy.corp',
      OPENIR_PROXY_PORT: '3128',
      OPENIR_PROXY_USER: 'svc',
      OPENIR_PROXY_PASSWORD_FILE: path.join(dir, 'proxy.pass'),
    });
    expect(problems).toEqual([]);
    expect(plan).toMatchObject({
      authKey: KEY,
      key: { irName: 'ops', endpoint: 'https://cp.test:8443' },
      replaceNode: true,
      remoteAccess: { mode: 'plain', port: 8060 },
      proxy: { mode: 'custom', address: 'proxy.corp', port: 3128, user: 'svc', password: 'p@ss word' },
    });
  });

  it('each wrong value is a problem with its variable named, all of them at once', async () => {
    const { plan, problems } = await resolvePlan({
      OPENIR_AUTH_KEY: KEY,
      OPENIR_AUTH_KEY_FILE: '/nonexistent',
      OPENIR_REPLACE_NODE: 'maybe',
      OPENIR_REMOTE_ACCESS: 'plain',
      OPENIR_REMOTE_ACCESS_PORT: '70000',
      OPENIR_PROXY: 'custom',
      OPENIR_PROXY_ADDRESS: 'http://proxy.corp',
      OPENIR_PROXY_PORT: '3128',
    });
    expect(plan).toBeNull();
    expect(problems.map((p) => p.message)).toEqual([
      'Both OPENIR_AUTH_KEY and OPENIR_AUTH_KEY_FILE are set.',
      "OPENIR_REPLACE_NODE must be 1 or 0, not 'maybe'.",
      "OPENIR_REMOTE_ACCESS_PORT must be a port from 1 to 65535, not '70000'.",
      'OPENIR_PROXY_ADDRESS: Enter the host name or IP address only, without http://.',
    ]);
    expect(problems.every((p) => p.code === 'INVALID_INPUT' && p.fix)).toBe(true);
  });
});
