import type { StatusReport } from '../shared/contract';
import type { NodeStatus } from '../shared/status';

export type TrayAction = 'open' | 'start' | 'stop' | 'quit';

export interface TrayMenuItem {
  label: string;
  action?: TrayAction;
  enabled?: boolean;
  type?: 'separator';
}

export interface TrayModel {
  icon: TrayIconName;
  tooltip: string;
  menu: TrayMenuItem[];
}

export type TrayIconName = 'online' | 'limited' | 'offline' | 'stopped' | 'connecting' | 'unregistered';

export const TRAY_ICON_FOR_STATUS: Record<NodeStatus, TrayIconName> = {
  Online: 'online',
  Limited: 'limited',
  Offline: 'offline',
  Stopped: 'stopped',
  Connecting: 'connecting',
  Registering: 'connecting',
  // Waiting on an admin, like a connection still being made: not yet serving, nothing wrong.
  Pending: 'connecting',
  NeedRegistration: 'unregistered',
};

/** What the tray shows for a status: a pure function, so it is tested without Electron. */
export function trayModel(status: StatusReport | null): TrayModel {
  if (!status) {
    return {
      icon: 'stopped',
      tooltip: 'OpenIR — starting…',
      menu: [
        { label: 'Open Configuration Manager', action: 'open' },
        { label: '', type: 'separator' },
        { label: 'Quit', action: 'quit' },
      ],
    };
  }
  const lines = [
    'OpenIR',
    `Integration runtime: ${status.ir?.name ?? 'not registered'}`,
    `Node: ${status.node?.name ?? '—'}`,
    `State: ${status.status}`,
    `Jobs: ${status.jobs.running} running / ${status.jobs.limit} limit`,
  ];
  // The control plane's version policy and a drain under way: what an admin must act on.
  const standing = status.versionStanding;
  if (standing?.updateAvailable) lines.push(`Update available: ${standing.updateAvailable}`);
  if (standing?.expiresOn && !standing.refused) lines.push(`This version expires on ${standing.expiresOn}`);
  if (status.drain?.state === 'draining') lines.push('Draining: no new jobs; stops when jobs finish');
  return {
    icon: TRAY_ICON_FOR_STATUS[status.status],
    tooltip: lines.join('\n'),
    menu: [
      { label: 'Open Configuration Manager', action: 'open' },
      { label: '', type: 'separator' },
      { label: 'Start service', action: 'start', enabled: !status.serviceRunning },
      { label: 'Stop service', action: 'stop', enabled: status.serviceRunning },
      { label: '', type: 'separator' },
      { label: 'Quit', action: 'quit' },
    ],
  };
}
