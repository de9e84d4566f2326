import { afterAll, describe, expect, it } from 'vitest';
import { CertificateService } from '../../src/core/certificates/service';
import { ProxyService } from '../../src/core/proxyService';
import { RemoteAccessListener } from '../../src/core/remoteAccess';
import { RemoteAccessService } from '../../src/core/remoteAccessService';
import { ViewFeed } from '../../src/core/viewFeed';
import type { OperationOutput } from '../../src/shared/contract';
import type { ProxyView } from '../../src/shared/proxy';
import type { RemoteAccessView } from '../../src/shared/remoteAccess';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

const FQDN = 'alpha.openir.test';

describe('view feed', () => {
  it('pushes a view only when it changed, newest last, and reports a view it cannot read', async () => {
    let value = 1;
    const pushed: number[] = [];
    const failures: unknown[] = [];
    const feed = new ViewFeed(
      async () => {
        if (value < 0) throw new Error('unreadable');
        return value;
      },
      (view) => pushed.push(view),
      (error) => failures.push(error),
    );
    await feed.refresh();
    await feed.refresh();
    value = 2;
    const first = feed.refresh();
    value = 3;
    await Promise.all([first, feed.refresh()]);
    expect(pushed).toEqual([1, 3]);
    value = -1;
    await expect(feed.refresh()).resolves.toBeUndefined();
    expect(failures).toHaveLength(1);
  });
});

describe('certificatesChanged', () => {
  function service() {
    const parts = coreParts('openir-certsvc-');
    const pushed: OperationOutput<'listCertificates'>[] = [];
    const ir = { nodes: [{ fqdn: FQDN }] };
    const certificates = new CertificateService({
      ...parts,
      dataDir: parts.home,
      fqdn: FQDN,
      irNodes: () => ir.nodes,
      push: (list) => pushed.push(list),
    });
    return { ...parts, pushed, ir, certificates };
  }

  it('pushes listCertificates’s answer on create, trust and remove', async () => {
    const s = service();
    const made = await s.certificates.createSelfSigned({ key: 'p256' });
    expect(s.pushed).toEqual([await s.certificates.list()]);
    expect(s.pushed[0]).toMatchObject({ fqdn: FQDN, certificates: [{ thumbprint: made.thumbprint }] });
    await s.certificates.setTrust({ thumbprint: made.thumbprint, trusted: true });
    expect(s.pushed.at(-1)?.certificates[0]?.trustAnchor).toBe(true);
    await s.certificates.remove({ thumbprint: made.thumbprint });
    expect(s.pushed.at(-1)).toEqual({ fqdn: FQDN, certificates: [] });
    expect(s.pushed).toHaveLength(3);
  });

  it('pushes again when a node joining the IR changes what the certificate must name', async () => {
    const s = service();
    await s.certificates.createSelfSigned({ key: 'p256' });
    await s.certificates.refresh();
    expect(s.pushed).toHaveLength(1);
    s.ir.nodes = [{ fqdn: FQDN }, { fqdn: 'beta.openir.test' }];
    await s.certificates.refresh();
    expect(s.pushed).toHaveLength(2);
    expect(JSON.stringify(s.pushed[1])).toContain('beta.openir.test');
    expect(s.pushed[1]).toEqual(await s.certificates.list());
  });

  it('selects TLS material only from a usable stored certificate', async () => {
    const s = service();
    await expect(s.certificates.tlsMaterialFor('ab'.repeat(20))).rejects.toMatchObject({
      code: 'CERTIFICATE_NOT_USABLE',
    });
    const made = await s.certificates.createSelfSigned({ key: 'p256' });
    const material = await s.certificates.tlsMaterialFor(made.thumbprint);
    expect(material.certPem).toContain('BEGIN CERTIFICATE');
    expect(material.keyPem).toContain('PRIVATE KEY');
    // Self-signed: other nodes must trust it, which is their part; it is said, not blocking.
    expect(material.warnings.length).toBeGreaterThan(0);
  });
});

describe('proxyChanged', () => {
  function service(running = false) {
    const parts = coreParts('openir-proxysvc-');
    const pushed: ProxyView[] = [];
    const state = { controlPlane: null as { endpoint: string; pin: string } | null, restarts: 0 };
    const proxy = new ProxyService({
      ...parts,
      system: async () => ({ proxy: null, reason: 'no system proxy in this test' }),
      controlPlane: () => state.controlPlane,
      push: (view) => pushed.push(view),
      serviceRunning: () => running,
      restartService: async () => state.restarts++,
    });
    return { ...parts, pushed, state, proxy };
  }

  it('pushes getProxy’s answer on load, on save, and when the registered endpoint changes the route', async () => {
    const s = service();
    await s.proxy.load();
    expect(s.pushed).toEqual([{ settings: { mode: 'none' }, hasPassword: false, route: null }]);
    await s.proxy.save({
      mode: 'custom',
      address: 'proxy.corp',
      port: 3128,
      user: 'u',
      password: 'pw-123456789',
    });
    expect(s.pushed.at(-1)).toEqual(await s.proxy.view());
    expect(s.pushed.at(-1)).toMatchObject({
      settings: { mode: 'custom', address: 'proxy.corp' },
      hasPassword: true,
    });
    s.state.controlPlane = { endpoint: 'https://cp.corp:8443', pin: 'pin' };
    await s.proxy.refresh();
    expect(s.pushed.at(-1)?.route).toMatchObject({ kind: 'proxy' });
    await s.proxy.refresh();
    expect(s.pushed).toHaveLength(3);
  });

  it('a change restarts the running service so it takes effect', async () => {
    const s = service(true);
    await s.proxy.load();
    const view = await s.proxy.change({ mode: 'none' });
    expect(view.settings).toEqual({ mode: 'none' });
    expect(s.state.restarts).toBe(1);
    await expect(s.proxy.test(undefined, undefined)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('remoteAccessChanged', () => {
  function service() {
    const parts = coreParts('openir-rasvc-');
    const pushed: RemoteAccessView[] = [];
    const state = { nodes: 1, heartbeats: 0 };
    const log = parts.logger.child('remote-access');
    const remoteAccess = new RemoteAccessService({
      ...parts,
      fqdn: FQDN,
      log,
      certificates: { tlsMaterialFor: async () => Promise.reject(new Error('no certificate')) },
      listener: new RemoteAccessListener({
        bindHost: '127.0.0.1',
        log,
        health: () => ({}),
        encrypt: async (v) => v,
      }),
      irNodeCount: () => state.nodes,
      serviceRunning: () => false,
      heartbeatNow: () => state.heartbeats++,
      push: (view) => pushed.push(view),
    });
    return { ...parts, pushed, state, remoteAccess };
  }

  it('pushes getRemoteAccess’s answer on load and change, and when the IR’s node count locks it', async () => {
    const s = service();
    await s.remoteAccess.load();
    expect(s.pushed).toEqual([s.remoteAccess.view()]);
    expect(s.pushed[0]).toMatchObject({ settings: { mode: 'disabled' }, changeAllowed: true });
    const changed = await s.remoteAccess.change({ mode: 'plain', port: 18060 });
    expect(s.state.heartbeats).toBe(1);
    expect(s.pushed.at(-1)).toEqual(changed);
    expect(changed.settings).toEqual({ mode: 'plain', port: 18060 });
    expect((await s.config.load()).remoteAccess).toEqual({ mode: 'plain', port: 18060 });
    s.state.nodes = 2;
    await s.remoteAccess.refresh();
    expect(s.pushed.at(-1)).toMatchObject({
      changeAllowed: false,
      changeBlockedReason: expect.stringContaining('2'),
    });
    await expect(s.remoteAccess.change({ mode: 'disabled' })).rejects.toMatchObject({
      code: 'REMOTE_ACCESS_LOCKED',
    });
    expect(s.pushed).toHaveLength(3);
  });
});
