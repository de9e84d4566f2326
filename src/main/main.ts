import path from 'node:path';
import {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  nativeImage,
  protocol,
  safeStorage,
  session,
  Tray,
} from 'electron';
import { defaultHome, dataPaths } from '../core/paths';
import { runHost, type RunningHost } from '../core/runHost';
import { APP_SCHEME, APP_SCHEME_PRIVILEGES, APP_URL, appRequestHandler } from './appProtocol';
import { bindContractOverIpc, forwardEvents } from './ipc';
import { denyAllPermissions, hardenWebContents } from './navigation';
import { safeStorageVault } from './safeStorageVault';
import { electronProxyResolver } from './systemProxy';
import { TrayController } from './tray';
import type { TrayIconName } from './trayModel';
import { mainWindowOptions } from './windowOptions';

/**
 * The desktop Configuration Manager: hosts the runtime host service in the
 * main process, shows the renderer in one hardened window, and stays in the
 * tray when the window closes.
 */
const ROOT = path.join(__dirname, '..', '..');
const RENDERER_DIR = path.join(ROOT, 'dist', 'renderer');
const PRELOAD = path.join(ROOT, 'dist', 'preload', 'preload.js');
const assetPath = (...parts: string[]) => path.join(ROOT, 'assets', ...parts);

let window: BrowserWindow | null = null;
let quitting = false;

function showWindow(): void {
  if (!window) {
    window = new BrowserWindow(mainWindowOptions(PRELOAD, assetPath('icon.png')));
    window.once('ready-to-show', () => window?.show());
    window.on('close', (event) => {
      // Closing the window keeps the host running in the tray.
      if (!quitting) {
        event.preventDefault();
        window?.hide();
      }
    });
    window.on('closed', () => (window = null));
    void window.loadURL(APP_URL);
    return;
  }
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}

async function start(): Promise<void> {
  await app.whenReady();
  Menu.setApplicationMenu(null);
  protocol.handle(APP_SCHEME, appRequestHandler(RENDERER_DIR));
  denyAllPermissions(session.defaultSession);
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, APP_URL));

  const home = defaultHome();
  let running: RunningHost;
  try {
    running = await runHost({
      home,
      preferredVault: (await safeStorageVault(safeStorage, dataPaths(home).vaultDir)) ?? undefined,
      systemProxy: electronProxyResolver(session.defaultSession),
    });
  } catch (error) {
    const { dialog } = await import('electron');
    dialog.showErrorBox('OpenIR could not start', (error as Error).message);
    app.exit(1);
    return;
  }

  bindContractOverIpc(ipcMain, running.host, APP_URL);
  forwardEvents(running.host.events, () => window?.webContents ?? null);

  const tray = new TrayController({
    tray: new Tray(nativeImage.createFromPath(assetPath('tray', 'stopped.png'))),
    buildMenu: (template) => Menu.buildFromTemplate(template),
    icon: (name: TrayIconName) => nativeImage.createFromPath(assetPath('tray', `${name}.png`)),
    onAction: (action) => {
      if (action === 'open') showWindow();
      if (action === 'start') void running.host.startService();
      if (action === 'stop') void running.host.stopService();
      if (action === 'quit') app.quit();
    },
  });
  running.host.events.on('statusChanged', (status) => tray.update(status));
  tray.update(await running.host.getStatus());

  app.on('second-instance', showWindow);
  app.on('activate', showWindow);
  // Keep running with no window: the tray is the way back.
  app.on('window-all-closed', () => undefined);
  app.on('before-quit', (event) => {
    if (quitting) return;
    quitting = true;
    event.preventDefault();
    void running.close().finally(() => app.quit());
  });
  showWindow();
}

// Privileged schemes must be known before the app is ready.
protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void start();
}
