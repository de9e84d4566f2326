import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_CONTROL_PLANE_SKEW_MS,
  TroubleshootService,
  type TroubleshootLinks,
} from '../../src/core/troubleshoot';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs } from '../helpers/tmp';

/**
 * The troubleshoot service on real parts (a control plane process, a file
 * vault, a temp data directory), before registration: the checks that need
 * only the control plane's address and pin, and the clock and disk checks a
 * host-level test cannot bend (a clock ten minutes off, a data directory
 * that is not one).
 */
describe('TroubleshootService', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;

  beforeAll(async () => {
    cp = await startControlPlane();
  }, 60_000);

  afterAll(async () => {
    await stopControlPlanes();
    cleanupTempDirs();
  });

  const service = (overrides: Partial<TroubleshootLinks> = {}) => {
    const parts = coreParts('openir-troubleshoot-');
    return new TroubleshootService({
      dataDir: parts.home,
      fqdn: 'node.test',
      version: '0.1.0',
      vault: parts.vault,
      log: parts.log,
      clock: () => new Date(),
      registration: () => null,
      connector: parts.connector,
      testProxy: () => Promise.reject(new Error('no proxy here')),
      serviceRunning: () => true,
      roundTrip: () => Promise.reject(new Error('not registered')),
      irNodes: () => [],
      checkPeer: () => Promise.reject(new Error('no peers')),
      remoteAccess: () => ({ url: null, certSha256: null }),
      credentials: async () => ({ credentials: [] }),
      testCredential: () => Promise.reject(new Error('no credentials')),
      timeoutMs: 5000,
      ...overrides,
    });
  };
  const target = () => ({ endpoint: cp.endpoint, pin: cp.pin });

  it('before registration, against a key’s control plane: the network checks pass, the node checks are skipped', async () => {
    const report = await service().run({ target: target() });
    expect(report.firstFailure).toBeNull();
    const results = Object.fromEntries(report.checks.map((c) => [c.id, c.result]));
    expect(results).toEqual({
      dataDir: 'passed',
      vault: 'passed',
      clock: 'passed',
      dns: 'passed',
      tcp: 'passed',
      proxy: 'passed',
      tls: 'passed',
      nodeCredential: 'skipped',
      channel: 'skipped',
      remoteAccess: 'skipped',
    });
    expect(report.ports).toEqual([
      expect.objectContaining({ purpose: 'Control plane', result: 'open', tls: true }),
    ]);
  });

  it('a clock ten minutes ahead: CLOCK_SKEW is the first failure, and the checks after it still pass', async () => {
    const ahead = () => new Date(Date.now() + 10 * 60_000);
    const report = await service({ clock: ahead }).run({ target: target() });
    expect(report.firstFailure).toMatchObject({
      checkId: 'clock',
      error: {
        code: 'CLOCK_SKEW',
        message: expect.stringMatching(/clock is (599|600|601) s ahead of/),
        fix: expect.stringContaining('NTP'),
      },
    });
    for (const id of ['dns', 'tcp', 'tls'])
      expect(report.checks.find((c) => c.id === id)?.result).toBe('passed');
    // Within the allowance: passes.
    const near = () => new Date(Date.now() + MAX_CONTROL_PLANE_SKEW_MS / 2);
    const ok = await service({ clock: near }).run({ target: target() });
    expect(ok.checks.find((c) => c.id === 'clock')).toMatchObject({
      result: 'passed',
      detail: expect.stringContaining('ahead of'),
    });
  });

  it('a pin that is not the control plane’s: TLS fails with CONTROL_PLANE_TLS_PIN_MISMATCH', async () => {
    const report = await service().run({
      target: { endpoint: cp.endpoint, pin: Buffer.alloc(32, 1).toString('base64') },
    });
    expect(report.firstFailure).toMatchObject({
      checkId: 'tls',
      error: { code: 'CONTROL_PLANE_TLS_PIN_MISMATCH' },
    });
  });

  it('a data directory that cannot be written: STORAGE_WRITE_FAILED first, and everything else still runs', async () => {
    const parts = coreParts('openir-troubleshoot-ro-');
    const report = await service({ dataDir: path.join(parts.home, 'missing', 'dir') }).run({
      target: target(),
    });
    expect(report.firstFailure).toMatchObject({
      checkId: 'dataDir',
      error: { code: 'STORAGE_WRITE_FAILED', fix: expect.stringContaining('write access') },
    });
    expect(report.checks.find((c) => c.id === 'tls')?.result).toBe('passed');
  });
});
