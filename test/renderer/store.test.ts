/**
 * Unit tests of the store's slices against a fake host (every operation answered by the test, in any order;
 * events pushed by the test): loading, load errors, values pushed by events, newest-only ordering, and the
 * dialogs' save flow. The real store against a real host is exercised by the e2e suites.
 */
import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../src/shared/contract';
import type { ProxyView } from '../../src/shared/proxy';
import type { RemoteAccessView } from '../../src/shared/remoteAccess';
import type { JobSettingsView } from '../../src/shared/credentials';
import { EVENT_NAME_LIST } from '../../src/shared/contractNames';
import { connectStore, createAppStore, type AppStore } from '../../src/renderer/store';
import { PROXY_TEST_NEEDS_KEY } from '../../src/renderer/features/proxy/proxySlice';
import { FakeHost, settle } from './fakeHost';

const proxyView = (mode: 'none' | 'system', reason = 'direct'): ProxyView =>
  ({ settings: { mode }, hasPassword: false, route: { kind: 'direct', proxy: null, reason } }) as ProxyView;

const remoteView = (mode: 'disabled' | 'plain', listening = false): RemoteAccessView =>
  ({
    settings: mode === 'disabled' ? { mode } : { mode, port: 8060 },
    listening,
    url: null,
    warning: null,
    changeAllowed: true,
    changeBlockedReason: null,
  }) as unknown as RemoteAccessView;

const jobSettings = (limit: number, folders: string[] = []): JobSettingsView =>
  ({
    allowedFolders: folders,
    concurrentJobsLimit: { configured: limit, default: 4, effective: limit },
  }) as unknown as JobSettingsView;

const report = (registered: boolean): StatusReport =>
  ({
    status: registered ? 'Online' : 'NeedRegistration',
    registered,
    serviceRunning: true,
    jobs: { running: 0, limit: 4 },
    system: { cpuPercent: 1, memoryUsedBytes: 1, memoryTotalBytes: 2 },
    irNodes: [],
  }) as unknown as StatusReport;

const HOST_ERROR = { code: 'HOST_NOT_RUNNING', message: 'The OpenIR host cannot be reached.' };

function connected(): { host: FakeHost; store: AppStore; disconnect: () => void } {
  const host = new FakeHost();
  const store = createAppStore(host.transport);
  const disconnect = connectStore(store, host.transport);
  return { host, store, disconnect };
}

describe('connecting the store', () => {
  it('loads every resource once and subscribes to every event of the contract', () => {
    const { host, disconnect } = connected();
    for (const name of [
      'getStatus',
      'getProxy',
      'getRemoteAccess',
      'listCertificates',
      'getJobs',
      'getJobSettings',
      'listCredentials',
    ] as const)
      expect(host.pending(name), name).toHaveLength(1);
    expect(host.pending('getLogs')).toHaveLength(2);
    for (const event of EVENT_NAME_LIST) expect(host.listenerCount(event), event).toBe(1);
    disconnect();
    for (const event of EVENT_NAME_LIST) expect(host.listenerCount(event), event).toBe(0);
  });

  it('loads everything again when the event stream comes back, not on a plain state change', () => {
    const { host } = connected();
    host.setConnection('reconnecting');
    expect(host.pending('getProxy')).toHaveLength(1);
    host.setConnection('connected', true);
    expect(host.pending('getProxy')).toHaveLength(2);
    expect(host.pending('listCertificates')).toHaveLength(2);
    expect(host.pending('getJobSettings')).toHaveLength(2);
  });

  it('no longer reloads when the status report changes: the resources have their own events', async () => {
    const { host, store } = connected();
    await host.answer('getStatus', report(false));
    host.emit('statusChanged', { ...report(true), irNodes: [{}, {}] } as unknown as StatusReport);
    store.getState().setTab('settings');
    expect(host.pending('getProxy')).toHaveLength(1);
    expect(host.pending('getRemoteAccess')).toHaveLength(1);
    expect(host.pending('getJobSettings')).toHaveLength(1);
    expect(host.pending('listCredentials')).toHaveLength(1);
  });
});

describe('a resource loaded from the host and kept current by its event', () => {
  it('starts empty, then holds the loaded value', async () => {
    const { host, store } = connected();
    expect(store.getState().proxy).toEqual({ value: null, loadError: null });
    await host.answer('getProxy', proxyView('none'));
    expect(store.getState().proxy).toEqual({ value: proxyView('none'), loadError: null });
  });

  it('keeps a load failure with its code until Try again loads it', async () => {
    const { host, store } = connected();
    await host.fail('getRemoteAccess', HOST_ERROR);
    expect(store.getState().remoteAccess.value).toBeNull();
    expect(store.getState().remoteAccess.loadError).toMatchObject({ code: 'HOST_NOT_RUNNING' });
    void store.getState().refreshRemoteAccess();
    await host.answer('getRemoteAccess', remoteView('disabled'));
    expect(store.getState().remoteAccess).toEqual({ value: remoteView('disabled'), loadError: null });
  });

  it('a failed reload keeps the value it had', async () => {
    const { host, store } = connected();
    await host.answer('getJobSettings', jobSettings(3));
    void store.getState().refreshJobSettings();
    await host.fail('getJobSettings', HOST_ERROR);
    expect(store.getState().jobSettings.value).toEqual(jobSettings(3));
    expect(store.getState().jobSettings.loadError?.code).toBe('HOST_NOT_RUNNING');
  });

  it('takes each change event as the new value and clears a load error', async () => {
    const { host, store } = connected();
    await host.fail('getProxy', HOST_ERROR);
    host.emit('proxyChanged', proxyView('system'));
    expect(store.getState().proxy).toEqual({ value: proxyView('system'), loadError: null });
    host.emit('remoteAccessChanged', remoteView('plain', true));
    expect(store.getState().remoteAccess.value).toEqual(remoteView('plain', true));
    host.emit('certificatesChanged', { fqdn: 'n.example', certificates: [] });
    expect(store.getState().certificates.value).toEqual({ fqdn: 'n.example', certificates: [] });
    host.emit('jobSettingsChanged', jobSettings(7));
    expect(store.getState().jobSettings.value).toEqual(jobSettings(7));
    host.emit('credentialsChanged', { credentials: [] });
    expect(store.getState().credentials.value).toEqual({ credentials: [] });
    host.emit('jobsChanged', { running: 0, limit: 4, recent: [] } as never);
    expect(store.getState().jobs.value).toMatchObject({ running: 0, limit: 4 });
  });

  it('a load that answers after an event does not overwrite the newer event', async () => {
    const { host, store } = connected();
    host.emit('proxyChanged', proxyView('system', 'pushed'));
    await host.answer('getProxy', proxyView('none', 'stale load'));
    expect(store.getState().proxy.value).toEqual(proxyView('system', 'pushed'));
  });

  it('of two loads under way, only the newest answer is kept, whatever order they arrive in', async () => {
    const { host, store } = connected();
    void store.getState().refreshCertificates();
    await host.answer('listCertificates', { fqdn: 'newest', certificates: [] }, 'newest');
    await host.answer('listCertificates', { fqdn: 'older', certificates: [] });
    expect(store.getState().certificates.value?.fqdn).toBe('newest');
  });

  it("applies a change's answer unless an event brought something newer meanwhile", async () => {
    const { host, store } = connected();
    await host.answer('getJobSettings', jobSettings(4));
    const first = store.getState().setConcurrentJobsLimit(5);
    await host.answer('setConcurrentJobsLimit', jobSettings(5));
    expect(await first).toEqual({ ok: true, value: jobSettings(5) });
    expect(store.getState().jobSettings.value).toEqual(jobSettings(5));

    const second = store.getState().allowFolder('/srv');
    host.emit('jobSettingsChanged', jobSettings(6, ['/srv', '/data']));
    await host.answer('allowFolder', jobSettings(5, ['/srv']));
    expect((await second).ok).toBe(true);
    expect(store.getState().jobSettings.value).toEqual(jobSettings(6, ['/srv', '/data']));
  });

  it('a change that fails reports it and leaves the value as it was', async () => {
    const { host, store } = connected();
    await host.answer('getJobSettings', jobSettings(4));
    const change = store.getState().disallowFolder('/nope');
    await host.fail('disallowFolder', { code: 'INVALID_INPUT', message: 'Not allowed.' });
    expect(await change).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(store.getState().jobSettings.value).toEqual(jobSettings(4));
  });

  it('adding a certificate or a credential asks for no reload: the event brings the list', async () => {
    const { host, store } = connected();
    await host.answerAll({
      listCertificates: { fqdn: 'n', certificates: [] },
      listCredentials: { credentials: [] },
    });
    const imported = store.getState().importCertificate({ content: 'AAAA' });
    await host.answer('importCertificate', { thumbprint: 'AB' });
    expect((await imported).ok).toBe(true);
    const saved = store
      .getState()
      .saveCredential({ name: 'files', type: 'localFolder', root: '/srv' } as never);
    await host.answer('setCredential', { name: 'files' });
    expect((await saved).ok).toBe(true);
    expect(host.pending('listCertificates')).toHaveLength(0);
    expect(host.pending('listCredentials')).toHaveLength(0);
  });
});

describe('setting dialogs (proxy, remote access)', () => {
  it('a save closes the dialog, takes the saved setting and says where it was saved from', async () => {
    const { host, store } = connected();
    await host.answer('getProxy', proxyView('none'));
    store.getState().openProxyDialog({ from: 'settings' });
    expect(store.getState().proxyDialog.open).toEqual({ from: 'settings' });
    const saving = store.getState().saveProxy({ mode: 'system' } as never);
    expect(store.getState().proxyDialog.saving).toBe(true);
    // Closing while saving waits for the save.
    store.getState().closeProxyDialog();
    expect(store.getState().proxyDialog.open).not.toBeNull();
    await host.answer('setProxy', proxyView('system'));
    expect(await saving).toBe(true);
    expect(store.getState().proxyDialog).toEqual({
      open: null,
      saving: false,
      saveError: null,
      saved: { from: 'settings' },
    });
    expect(store.getState().proxy.value).toEqual(proxyView('system'));
    // Opening again forgets the notice.
    store.getState().openProxyDialog({ from: 'register', target: null });
    expect(store.getState().proxyDialog.saved).toBeNull();
  });

  it('a failed save keeps the dialog open with the error and reads what the host has now', async () => {
    const { host, store } = connected();
    await host.answer('getRemoteAccess', remoteView('disabled'));
    store.getState().openRemoteAccessDialog();
    const saving = store.getState().saveRemoteAccess({ mode: 'plain', port: 8060 });
    await host.fail('setRemoteAccess', { code: 'REMOTE_ACCESS_LOCKED', message: 'Two nodes.' });
    expect(await saving).toBe(false);
    expect(store.getState().remoteAccessDialog).toMatchObject({
      open: 'settings',
      saving: false,
      saveError: { code: 'REMOTE_ACCESS_LOCKED' },
      saved: null,
    });
    expect(host.pending('getRemoteAccess')).toHaveLength(1);
  });

  it('the proxy test from Register needs a pasted key, and a stale test answer is dropped', async () => {
    const { host, store } = connected();
    await host.answer('getProxy', proxyView('none'));
    store.getState().openProxyDialog({ from: 'register', target: null });
    await store.getState().testProxy({ mode: 'none' } as never);
    expect(store.getState().proxyTest.error).toBe(PROXY_TEST_NEEDS_KEY);
    expect(host.pending('testProxy')).toHaveLength(0);

    store.getState().openProxyDialog({ from: 'register', target: { endpoint: 'https://cp', pin: 'p' } });
    void store.getState().testProxy({ mode: 'none' } as never);
    expect(store.getState().proxyTest.testing).toBe(true);
    expect(host.pending('testProxy')[0]?.input).toEqual({
      proxy: { mode: 'none' },
      target: { endpoint: 'https://cp', pin: 'p' },
    });
    // The form changed: the answer belongs to settings no longer shown.
    store.getState().clearProxyTest();
    await host.answer('testProxy', { ok: true, steps: [] });
    expect(store.getState().proxyTest).toEqual({ testing: false, report: null, error: null });
  });
});

describe('status, registration and logs', () => {
  it('a statusChanged that registers the node shows Home', async () => {
    const { host, store } = connected();
    await host.answer('getStatus', report(false));
    store.getState().setTab('settings');
    host.emit('statusChanged', report(true));
    expect(store.getState().tab).toBe('home');
    expect(store.getState().report?.registered).toBe(true);
  });

  it('a malformed key is refused without asking the host', async () => {
    const { host, store } = connected();
    expect(await store.getState().register({ authKey: 'IR@nope', nodeName: '' })).toBe(false);
    expect(store.getState().registerError?.code).toBeTruthy();
    expect(host.pending('register')).toHaveLength(0);
  });

  it('a service action applies the report it returns, one action at a time', async () => {
    const { host, store } = connected();
    void store.getState().runServiceAction('stopService');
    void store.getState().runServiceAction('startService');
    expect(host.pending('startService')).toHaveLength(0);
    await host.answer('stopService', { ...report(true), serviceRunning: false });
    expect(store.getState().serviceAction).toBeNull();
    expect(store.getState().report?.serviceRunning).toBe(false);
  });

  it('log entries pushed while paused wait, and come in on resume', async () => {
    const { host, store } = connected();
    await host.answerAll({ getLogs: { level: 'info', entries: [] } });
    const entry = (message: string) =>
      ({ time: new Date().toISOString(), level: 'info', source: 't', message }) as const;
    host.emit('log', entry('one'));
    store.getState().setPaused(true);
    host.emit('log', entry('two'));
    expect(store.getState().entries.map((e) => e.message)).toEqual(['one']);
    expect(store.getState().held.map((e) => e.message)).toEqual(['two']);
    store.getState().setPaused(false);
    expect(store.getState().entries.map((e) => e.message)).toEqual(['one', 'two']);
    expect(store.getState().recent).toHaveLength(2);
    await settle();
  });
});
