import { useRef, useState } from 'react';
import type { StatusReport } from '../../../shared/contract';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { PauseIcon } from '../../components/Icons';
import { Button, Callout } from '../../components/ui';
import { useApp } from '../../store';

/**
 * Settings › Runtime host service › Drain and stop: no new jobs, the running
 * ones finish, then the service stops (before an update, one node of the
 * integration runtime at a time). The progress comes from the status report,
 * so a drain asked by the control plane (`ir drain`) shows here too.
 */
export function DrainControl({ report }: { report: StatusReport }) {
  const serviceAction = useApp((s) => s.serviceAction);
  const run = useApp((s) => s.runServiceAction);
  const [confirming, setConfirming] = useState(false);
  const opener = useRef<HTMLButtonElement>(null);
  const drain = report.drain ?? null;
  const running = report.jobs.running;
  return (
    <div className="drain" data-testid="drain-control">
      {drain?.state === 'draining' ? (
        <Callout tone="info" title="Draining" role="status">
          <p>
            This node takes no new jobs
            {drain.requestedBy === 'controlPlane' ? ' (asked by the control plane)' : ''}.{' '}
            {running === 0
              ? 'No job runs any more: the service is stopping.'
              : `${running} running job${running === 1 ? '' : 's'} finish${running === 1 ? 'es' : ''} first; then the service stops.`}{' '}
            The control plane shows this node as Upgrading.
          </p>
          <progress aria-label="Jobs still running" max={Math.max(1, report.jobs.limit)} value={running} />
        </Callout>
      ) : drain?.state === 'stopped' ? (
        <Callout tone="info" title="Drained" role="status">
          <p>
            Every running job finished and the service stopped. Update OpenIR now, then start the service.
          </p>
        </Callout>
      ) : (
        <div className="button-row">
          <Button
            ref={opener}
            icon={<PauseIcon size={18} />}
            busy={serviceAction === 'drain'}
            disabled={!report.serviceRunning || serviceAction !== null}
            onClick={() => setConfirming(true)}
          >
            Drain and stop
          </Button>
        </div>
      )}
      {confirming ? (
        <ConfirmDialog
          title="Drain and stop this node?"
          confirmLabel="Drain and stop"
          confirmIcon={<PauseIcon size={18} />}
          variant="primary"
          returnFocus={opener}
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            void run('drain');
          }}
        >
          <p>
            This node takes no new jobs; the other nodes of the integration runtime get them.{' '}
            {running === 0
              ? 'No job runs now, so the service stops at once.'
              : running === 1
                ? 'The running job finishes first, then the service stops.'
                : `The ${running} running jobs finish first, then the service stops.`}{' '}
            Use it before updating OpenIR, one node at a time.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
