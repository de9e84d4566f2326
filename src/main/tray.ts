import type { Menu, MenuItemConstructorOptions, NativeImage, Tray } from 'electron';
import type { StatusReport } from '../shared/contract';
import { trayModel, type TrayAction, type TrayIconName } from './trayModel';

export interface TrayDeps {
  tray: Pick<Tray, 'setImage' | 'setToolTip' | 'setContextMenu' | 'on'>;
  buildMenu: (template: MenuItemConstructorOptions[]) => Menu;
  icon: (name: TrayIconName) => NativeImage;
  onAction: (action: TrayAction) => void;
}

/** Keeps the tray icon, tooltip and menu in step with the node's status. */
export class TrayController {
  private lastIcon: TrayIconName | null = null;

  constructor(private readonly deps: TrayDeps) {
    deps.tray.on('click', () => deps.onAction('open'));
    this.update(null);
  }

  update(status: StatusReport | null): void {
    const model = trayModel(status);
    if (model.icon !== this.lastIcon) {
      this.deps.tray.setImage(this.deps.icon(model.icon));
      this.lastIcon = model.icon;
    }
    this.deps.tray.setToolTip(model.tooltip);
    this.deps.tray.setContextMenu(
      this.deps.buildMenu(
        model.menu.map((item): MenuItemConstructorOptions =>
          item.type === 'separator'
            ? { type: 'separator' }
            : {
                label: item.label,
                enabled: item.enabled ?? true,
                click: () => item.action && this.deps.onAction(item.action),
              },
        ),
      ),
    );
  }
}
