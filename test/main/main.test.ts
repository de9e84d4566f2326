/**
 * The main-process pieces, tested as plain functions. The Electron objects
 * they receive (ipcMain, WebContents, Tray, safeStorage) are stand-ins here
 * because no Electron binary can run on this machine; each stand-in records
 * exactly the calls the real object would receive.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostEvents } from '../../src/core/events';
import {
  APP_CSP,
  APP_URL as APP_INDEX_URL,
  appRequestHandler,
  resolveAppFile,
} from '../../src/main/appProtocol';
import { bindContractOverIpc, forwardEvents, isTrustedSender } from '../../src/main/ipc';
import { hardenWebContents, isAppUrl } from '../../src/main/navigation';
import { safeStorageVault } from '../../src/main/safeStorageVault';
import { parseChromiumProxy } from '../../src/main/systemProxy';
import { TrayController } from '../../src/main/tray';
import { TRAY_ICON_FOR_STATUS, trayModel } from '../../src/main/trayModel';
import { mainWindowOptions } from '../../src/main/windowOptions';
import { ipcChannelForEvent, ipcChannelForOperation, type IpcReply } from '../../src/shared/api';
import { NODE_STATUSES } from '../../src/shared/status';
import { OPERATION_NAMES, type HostApi, type StatusReport } from '../../src/shared/contract';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(cleanupTempDirs);

// The page's own URL, as main.ts loads it (served by appProtocol.ts).
const APP_URL = APP_INDEX_URL;

function status(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    status: 'Online',
    registered: true,
    serviceRunning: true,
    version: '0.1.0',
    ir: { id: 'ir-1', name: 'sales-ir' },
    node: { id: 'n-1', name: 'node1', fqdn: 'node1.example' },
    controlPlane: { endpoint: 'https://cp:8443' },
    connectedSince: null,
    lastError: null,
    jobs: { running: 2, limit: 8 },
    system: { cpuPercent: 1, memoryUsedBytes: 1, memoryTotalBytes: 2 },
    vault: { id: 'secret-service', label: 'Secret Service', strength: 'strong', description: '' },
    irNodes: [],
    host: { pid: 1, dataDir: '/tmp', startedAt: '2026-01-01T00:00:00.000Z' },
    ...overrides,
  };
}

describe('tray model', () => {
  it('has a distinct icon for every node state', () => {
    const icons = NODE_STATUSES.map((s) => TRAY_ICON_FOR_STATUS[s]);
    const shared = ['Registering', 'Pending'];
    expect(new Set(icons.filter((_, i) => !shared.includes(NODE_STATUSES[i] as string))).size).toBe(
      NODE_STATUSES.length - shared.length,
    );
  });

  it.each(NODE_STATUSES)('%s: tooltip shows IR, node, state and jobs', (s) => {
    const model = trayModel(status({ status: s }));
    expect(model.icon).toBe(TRAY_ICON_FOR_STATUS[s]);
    expect(model.tooltip).toContain('sales-ir');
    expect(model.tooltip).toContain('node1');
    expect(model.tooltip).toContain(`State: ${s}`);
    expect(model.tooltip).toContain('Jobs: 2 running / 8 limit');
  });

  it('offers Start only when stopped and Stop only when running, plus Open and Quit', () => {
    const running = trayModel(status());
    const stopped = trayModel(status({ status: 'Stopped', serviceRunning: false }));
    const item = (m: typeof running, label: string) => m.menu.find((i) => i.label === label);
    expect(item(running, 'Start service')?.enabled).toBe(false);
    expect(item(running, 'Stop service')?.enabled).toBe(true);
    expect(item(stopped, 'Start service')?.enabled).toBe(true);
    expect(item(stopped, 'Stop service')?.enabled).toBe(false);
    expect(running.menu.map((i) => i.action).filter(Boolean)).toEqual(['open', 'start', 'stop', 'quit']);
  });

  it('the controller applies the model to the tray and routes menu clicks', () => {
    const calls: string[] = [];
    const actions: string[] = [];
    let lastTemplate: { label?: string; click?: () => void }[] = [];
    const tray = {
      setImage: (img: unknown) => void calls.push(`image:${String(img)}`),
      setToolTip: (t: string) => void calls.push(`tooltip:${t.split('\n')[3]}`),
      setContextMenu: () => void calls.push('menu'),
      on: () => tray,
    };
    const controller = new TrayController({
      tray: tray as never,
      buildMenu: (template) => ((lastTemplate = template as typeof lastTemplate), {}) as never,
      icon: (name) => name as never,
      onAction: (a) => void actions.push(a),
    });
    controller.update(status({ status: 'Offline' }));
    controller.update(status({ status: 'Offline' }));
    expect(calls.filter((c) => c.startsWith('image:'))).toEqual(['image:stopped', 'image:offline']);
    expect(calls).toContain('tooltip:State: Offline');
    lastTemplate.find((i) => i.label === 'Stop service')?.click?.();
    lastTemplate.find((i) => i.label === 'Quit')?.click?.();
    expect(actions).toEqual(['stop', 'quit']);
  });
});

describe('window options', () => {
  it('isolate and sandbox the renderer with no Node access', () => {
    const options = mainWindowOptions('/app/preload.js', '/app/icon.png');
    expect(options.webPreferences).toMatchObject({
      preload: '/app/preload.js',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
  });
});

describe('navigation guard', () => {
  it('allows only the app page itself', () => {
    expect(isAppUrl(APP_URL, APP_URL)).toBe(true);
    expect(isAppUrl(`${APP_URL}#/settings`, APP_URL)).toBe(true);
    expect(isAppUrl('https://evil.example/', APP_URL)).toBe(false);
    expect(isAppUrl('file:///etc/passwd', APP_URL)).toBe(false);
    expect(isAppUrl('not a url', APP_URL)).toBe(false);
  });

  it('blocks navigation away, webviews and every new window', () => {
    const contents = new EventEmitter() as EventEmitter & {
      setWindowOpenHandler: (h: () => unknown) => void;
    };
    let openHandler: () => unknown = () => null;
    contents.setWindowOpenHandler = (h) => void (openHandler = h);
    hardenWebContents(contents as never, APP_URL);
    const attempt = (event: string, url?: string) => {
      let prevented = false;
      contents.emit(event, { preventDefault: () => (prevented = true) }, url);
      return prevented;
    };
    expect(attempt('will-navigate', 'https://evil.example/')).toBe(true);
    expect(attempt('will-navigate', APP_URL)).toBe(false);
    expect(attempt('will-redirect', 'https://evil.example/')).toBe(true);
    expect(attempt('will-attach-webview')).toBe(true);
    expect(openHandler()).toEqual({ action: 'deny' });
    // Every frame, not only the main one: Electron passes one details object with the URL.
    const frame = (url: string) => {
      let prevented = false;
      contents.emit('will-frame-navigate', {
        url,
        isMainFrame: false,
        preventDefault: () => (prevented = true),
      });
      return prevented;
    };
    expect(frame('https://evil.example/')).toBe(true);
    expect(frame('file:///etc/passwd')).toBe(true);
    expect(frame(APP_URL)).toBe(false);
  });
});

describe('app:// protocol: the built renderer folder and nothing else', () => {
  const root = tempDir('openir-renderer-');
  fs.mkdirSync(path.join(root, 'assets'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>x</title>');
  fs.writeFileSync(path.join(root, 'assets', 'index-abc.js'), 'export {}');
  const outside = tempDir('openir-outside-');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'not for the page');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'assets', 'link.txt'));
  const handler = appRequestHandler(root);
  const get = (url: string, method = 'GET') => handler(new Request(url, { method }));

  it('serves the page and its assets with their type and the CSP header', async () => {
    const page = await get(APP_URL);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(APP_CSP);
    expect(await page.text()).toContain('<title>x</title>');
    const script = await get('app://openir/assets/index-abc.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toBe('export {}');
  });

  it.each([
    ['a dot-dot path', 'app://openir/../../etc/passwd'],
    ['an encoded dot-dot', 'app://openir/assets/%2e%2e/%2e%2e/etc/passwd'],
    ['an encoded slash and dot-dot', 'app://openir/..%2f..%2fetc%2fpasswd'],
    ['a backslash', 'app://openir/assets%5c..%5c..%5csecret.txt'],
    ['a NUL', 'app://openir/index.html%00.js'],
    ['a link out of the folder', 'app://openir/assets/link.txt'],
    ['a folder', 'app://openir/assets/'],
    ['a missing file', 'app://openir/nope.js'],
    ['another host', 'app://evil/index.html'],
    ['a broken escape', 'app://openir/%E0%A4%A'],
  ])('refuses %s with 404', async (_what, url) => {
    const response = await get(url);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('not for the page');
  });

  it('resolves only files inside the folder, and refuses other methods', async () => {
    expect(await resolveAppFile(root, 'app://openir/')).toBe(fs.realpathSync(path.join(root, 'index.html')));
    expect(await resolveAppFile(root, `file://${path.join(outside, 'secret.txt')}`)).toBeNull();
    expect((await get(APP_URL, 'POST')).status).toBe(405);
  });
});

describe('IPC binding', () => {
  type Handler = (event: unknown, input: unknown) => Promise<IpcReply<unknown>>;
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle: (channel: string, handler: Handler) => void handlers.set(channel, handler),
    removeHandler: (channel: string) => void handlers.delete(channel),
  };
  const calls: string[] = [];
  const api = Object.fromEntries(
    OPERATION_NAMES.map((name) => [
      name,
      async (input: unknown) => {
        calls.push(`${name}:${JSON.stringify(input)}`);
        if (name === 'getLogs') return { entries: [], level: 'info' };
        if (name === 'setLogLevel') return { level: 'debug' };
        return status();
      },
    ]),
  ) as unknown as HostApi;
  const unbind = bindContractOverIpc(ipcMain as never, api, APP_URL);
  const fromApp = { senderFrame: { url: APP_URL, parent: null } };

  it('has a handler for every contract operation', () => {
    expect([...handlers.keys()].sort()).toEqual(OPERATION_NAMES.map(ipcChannelForOperation).sort());
  });

  it('validates senders: only the top frame of the app page', () => {
    expect(isTrustedSender(fromApp as never, APP_URL)).toBe(true);
    expect(
      isTrustedSender({ senderFrame: { url: 'https://evil.example/', parent: null } } as never, APP_URL),
    ).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: APP_URL, parent: {} } } as never, APP_URL)).toBe(false);
    expect(isTrustedSender({ senderFrame: null } as never, APP_URL)).toBe(false);
  });

  it('refuses an untrusted sender without calling the host', async () => {
    const before = calls.length;
    const reply = await handlers.get(ipcChannelForOperation('stopService'))?.(
      { senderFrame: { url: 'https://evil.example/', parent: null } },
      {},
    );
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'UNAUTHORIZED' }) });
    expect(calls.length).toBe(before);
  });

  it('validates input with the shared schemas', async () => {
    const bad = await handlers.get(ipcChannelForOperation('setLogLevel'))?.(fromApp, { level: 'loud' });
    expect(bad).toEqual({ ok: false, error: expect.objectContaining({ code: 'INVALID_INPUT' }) });
    const extra = await handlers.get(ipcChannelForOperation('getStatus'))?.(fromApp, { sneaky: true });
    expect(extra?.ok).toBe(false);
    const good = await handlers.get(ipcChannelForOperation('setLogLevel'))?.(fromApp, { level: 'debug' });
    expect(good).toEqual({ ok: true, value: { level: 'debug' } });
    expect(calls).toContain('setLogLevel:{"level":"debug"}');
  });

  it('forwards host events to the window and stops when unsubscribed', () => {
    const events = new HostEvents();
    const sent: string[] = [];
    const contents = { isDestroyed: () => false, send: (channel: string) => void sent.push(channel) };
    const off = forwardEvents(events, () => contents as never);
    events.emit('statusChanged', status());
    off();
    events.emit('statusChanged', status());
    expect(sent).toEqual([ipcChannelForEvent('statusChanged')]);
    unbind();
    expect(handlers.size).toBe(0);
  });
});

describe('safeStorage vault', () => {
  // A reversible stand-in for Electron's async safeStorage cipher (no Electron binary can exist here).
  // Byte 0 names the key generation; decrypting an older generation asks for a re-encrypt, as a rotated key does.
  const fakeSafeStorage = (backend: string, available = true, generation = 1) => ({
    isAsyncEncryptionAvailable: async () => available,
    getSelectedStorageBackend: () => backend as never,
    encryptStringAsync: async (s: string) =>
      Buffer.concat([Buffer.from([generation]), Buffer.from(Buffer.from(s).map((b) => b ^ 0x5a))]),
    decryptStringAsync: async (b: Buffer) => ({
      result: Buffer.from(b.subarray(1).map((x) => x ^ 0x5a)).toString(),
      shouldReEncrypt: (b[0] ?? 0) < generation,
    }),
  });

  it('refuses basic_text and unavailable encryption (the core then picks and reports its own backend)', async () => {
    expect(await safeStorageVault(fakeSafeStorage('basic_text'), tempDir(), 'linux')).toBeNull();
    expect(await safeStorageVault(fakeSafeStorage('unknown'), tempDir(), 'linux')).toBeNull();
    expect(await safeStorageVault(fakeSafeStorage('gnome_libsecret', false), tempDir(), 'linux')).toBeNull();
  });

  it('with libsecret: strong, round-trips, and writes only sealed values', async () => {
    const dir = tempDir();
    const vault = await safeStorageVault(fakeSafeStorage('gnome_libsecret'), dir, 'linux');
    expect(vault?.backend).toMatchObject({ id: 'electron-safe-storage', strength: 'strong' });
    await vault?.set('node-credential', 'the-node-credential-value');
    expect(await vault?.get('node-credential')).toBe('the-node-credential-value');
    expect(filesContaining(dir, 'the-node-credential-value')).toEqual([]);
    expect(path.basename(filesContaining(dir, 'version')[0] ?? '')).toBe('safe-storage.json');
  });

  it('seals an entry again when safeStorage says its key was rotated', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'safe-storage.json');
    const sealedEntry = () =>
      (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: Record<string, string> }).entries[
        'node-credential'
      ];
    await (
      await safeStorageVault(fakeSafeStorage('gnome_libsecret', true, 1), dir, 'linux')
    )?.set('node-credential', 'v');
    const before = sealedEntry();
    const rotated = await safeStorageVault(fakeSafeStorage('gnome_libsecret', true, 2), dir, 'linux');
    expect(await rotated?.get('node-credential')).toBe('v');
    const after = sealedEntry();
    expect(after).not.toBe(before);
    expect(Buffer.from(after ?? '', 'base64')[0]).toBe(2);
    expect(await rotated?.get('node-credential')).toBe('v');
  });
});

describe('system proxy from Chromium', () => {
  it.each([
    ['PROXY proxy.corp:3128; DIRECT', 'http://proxy.corp:3128'],
    ['HTTPS secure.corp:443', null],
    ['DIRECT', null],
    ['SOCKS5 socks.corp:1080', null],
    ['', null],
  ])('%j → %s', (answer, proxy) => {
    expect(parseChromiumProxy(answer).proxy).toBe(proxy);
  });

  it('names SOCKS as unsupported instead of bypassing silently', () => {
    expect(parseChromiumProxy('SOCKS5 socks.corp:1080').reason).toMatch(/cannot tunnel/);
  });
});
