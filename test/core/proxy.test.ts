import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/core/config';
import { environmentProxyResolver, resolveRoute } from '../../src/core/proxyRoute';
import { matchesNoProxy, ProxyInputSchema } from '../../src/shared/proxy';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

describe('NO_PROXY', () => {
  it.each<[string, string, number, boolean]>([
    ['*', 'cp.example.com', 443, true],
    ['example.com', 'cp.example.com', 443, true],
    ['.example.com', 'cp.example.com', 443, true],
    ['example.com', 'example.com', 443, true],
    ['example.com', 'notexample.com', 443, false],
    ['cp.example.com:8443', 'cp.example.com', 8443, true],
    ['cp.example.com:8443', 'cp.example.com', 443, false],
    ['127.0.0.1', '127.0.0.1', 8443, true],
    ['localhost, 127.0.0.1', '127.0.0.1', 1, true],
    ['10.0.0.1', '127.0.0.1', 1, false],
    ['', 'cp.example.com', 443, false],
  ])('%j vs %s:%d → %s', (noProxy, host, port, expected) => {
    expect(matchesNoProxy(noProxy, host, port)).toBe(expected);
  });
});

describe('route resolution', () => {
  const target = new URL('https://cp.example.com:8443');

  it('custom proxy with Basic credentials', async () => {
    const route = await resolveRoute(
      { mode: 'custom', address: 'proxy.corp', port: 3128, user: 'alice' },
      'pw',
      target,
      environmentProxyResolver({}),
    );
    expect(route).toMatchObject({
      kind: 'proxy',
      proxy: 'http://proxy.corp:3128',
      proxyHost: 'proxy.corp',
      proxyPort: 3128,
    });
    expect(route.authorization).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
  });

  it('system mode: HTTPS_PROXY over HTTP_PROXY, credentials from the URL, NO_PROXY wins', async () => {
    const env = { HTTPS_PROXY: 'http://bob:s%40cret@secure.proxy:8080', HTTP_PROXY: 'http://plain.proxy:80' };
    const route = await resolveRoute({ mode: 'system' }, null, target, environmentProxyResolver(env));
    expect(route).toMatchObject({
      kind: 'proxy',
      proxy: 'http://secure.proxy:8080',
      reason: expect.stringContaining('HTTPS_PROXY'),
    });
    expect(route.authorization).toBe(`Basic ${Buffer.from('bob:s@cret').toString('base64')}`);
    const bypass = await resolveRoute(
      { mode: 'system' },
      null,
      target,
      environmentProxyResolver({ ...env, NO_PROXY: '.example.com' }),
    );
    expect(bypass).toMatchObject({ kind: 'direct', reason: expect.stringContaining('NO_PROXY') });
    const none = await resolveRoute({ mode: 'system' }, null, target, environmentProxyResolver({}));
    expect(none.kind).toBe('direct');
  });

  it('a system proxy that is not http:// is refused with a reason', async () => {
    const attempt = resolveRoute(
      { mode: 'system' },
      null,
      target,
      environmentProxyResolver({ HTTPS_PROXY: 'socks5://x:1080' }),
    );
    await expect(attempt).rejects.toMatchObject({ code: 'PROXY_UNREACHABLE' });
  });

  it('validates what a face sends', () => {
    const address = (value: string) =>
      ProxyInputSchema.safeParse({ mode: 'custom', address: value, port: 80 }).success;
    expect(address('127.0.0.1:8080')).toBe(false);
    expect(address('::1')).toBe(true);
    expect(address('[fd00::1]')).toBe(true);
    expect(address('proxy.corp')).toBe(true);
    expect(ProxyInputSchema.safeParse({ mode: 'custom', address: 'http://p', port: 1 }).success).toBe(false);
    expect(ProxyInputSchema.safeParse({ mode: 'custom', address: 'p.corp', port: 70000 }).success).toBe(
      false,
    );
    expect(ProxyInputSchema.safeParse({ mode: 'custom', address: 'p.corp:80', port: 80 }).success).toBe(
      false,
    );
    expect(
      ProxyInputSchema.safeParse({ mode: 'custom', address: 'p.corp', port: 80, user: 'a:b' }).success,
    ).toBe(false);
    expect(
      ProxyInputSchema.safeParse({ mode: 'custom', address: 'p.corp', port: 80, password: null }).success,
    ).toBe(true);
    expect(ProxyInputSchema.safeParse({ mode: 'none', address: 'x' }).success).toBe(false);
  });
});

describe('config migration', () => {
  it('upgrades a version 1 config in place, keeping the registration, with proxy and remote access off', async () => {
    const file = path.join(tempDir(), 'config.json');
    const registration = {
      irId: 'ir-1',
      irName: 'sales-ir',
      nodeId: 'n-1',
      nodeName: 'node1',
      fqdn: 'node1.example',
      endpoint: 'https://cp:8443',
      pin: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      controlPlaneCaPem: '-----BEGIN CERTIFICATE-----',
      registeredAt: '2026-01-01T00:00:00.000Z',
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 15000,
    };
    fs.writeFileSync(
      file,
      JSON.stringify({ schemaVersion: 1, vaultBackend: 'secret-service', logLevel: 'warn', registration }),
    );
    const config = await new ConfigStore(file).load();
    expect(config).toMatchObject({
      schemaVersion: 4,
      vaultBackend: 'secret-service',
      logLevel: 'warn',
      registration,
      proxy: { mode: 'none' },
      remoteAccess: { mode: 'disabled' },
      jobs: { allowedFolders: [], concurrentJobsLimit: null },
    });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).schemaVersion).toBe(4);
  });

  it('refuses a config from a newer version instead of guessing', async () => {
    const file = path.join(tempDir(), 'config.json');
    fs.writeFileSync(file, JSON.stringify({ schemaVersion: 99 }));
    await expect(new ConfigStore(file).load()).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
