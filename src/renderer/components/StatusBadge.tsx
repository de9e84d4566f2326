import type { ReactElement } from 'react';
import type { NodeStatus } from '../../shared/status';
import { CheckCircleIcon, ErrorCircleIcon, KeyIcon, StopCircleIcon, SyncIcon, WarningIcon } from './Icons';

export type Tone = 'ok' | 'warn' | 'bad' | 'off' | 'busy' | 'info';

interface StatusMeta {
  tone: Tone;
  icon: (props: { size?: number; className?: string }) => ReactElement;
  /** One sentence a person understands without knowing the state machine. */
  description: string;
}

export const STATUS_META: Record<NodeStatus, StatusMeta> = {
  NeedRegistration: {
    tone: 'info',
    icon: KeyIcon,
    description: 'This node is not registered with an integration runtime yet.',
  },
  Registering: {
    tone: 'busy',
    icon: SyncIcon,
    description: 'Registering this node with the control plane…',
  },
  Connecting: {
    tone: 'busy',
    icon: SyncIcon,
    description: 'Connecting to the control plane…',
  },
  Pending: {
    tone: 'info',
    icon: KeyIcon,
    description:
      'Registered and connected; waiting for an administrator to approve this node. It gets no jobs and no credentials until then.',
  },
  Online: {
    tone: 'ok',
    icon: CheckCircleIcon,
    description: 'Connected to the control plane and ready to run jobs.',
  },
  Limited: {
    tone: 'warn',
    icon: WarningIcon,
    description:
      'Connected to the control plane, but communication with the other nodes of this integration runtime is failing.',
  },
  Offline: {
    tone: 'bad',
    icon: ErrorCircleIcon,
    description: 'The control plane cannot be reached. The node keeps trying to reconnect.',
  },
  Stopped: {
    tone: 'off',
    icon: StopCircleIcon,
    description: 'The Integration Runtime Host Service is stopped on this machine.',
  },
};

/** A state shown with colour, icon and text together, never colour alone. */
export function StatusBadge({ status, testId }: { status: NodeStatus; testId?: string }) {
  const meta = STATUS_META[status];
  const IconFor = meta.icon;
  return (
    <span className={`badge badge--${meta.tone}`}>
      <IconFor size={16} className={meta.tone === 'busy' ? 'icon--spin' : undefined} />
      <span data-testid={testId}>{status}</span>
    </span>
  );
}

/** The header's live node state: announced politely to screen readers when it changes. */
export function NodeStatusChip({ status, stale = false }: { status: NodeStatus | null; stale?: boolean }) {
  return (
    <div
      className={stale ? 'status-chip status-chip--stale' : 'status-chip'}
      role="status"
      aria-live="polite"
      aria-atomic="true"
    >
      <span className="visually-hidden">Node status: </span>
      {status ? (
        <>
          <StatusBadge status={status} testId="node-status" />
          {/* While the host cannot be reached, the state shown is only the last one it reported. */}
          {stale ? <span className="status-chip__stale">last known</span> : null}
        </>
      ) : (
        <span className="badge badge--off">
          <SyncIcon size={16} className="icon--spin" />
          <span>Loading…</span>
        </span>
      )}
    </div>
  );
}
