import type { StatusReport } from '../../../shared/contract';
import { PlayIcon, RestartIcon, StopIcon } from '../../components/Icons';
import { Button, Callout, Card, ErrorDetails } from '../../components/ui';
import { useApp } from '../../store';
import { DrainControl } from './DrainControl';
import type { ServiceAction } from './serviceSlice';

const ACTION_PROGRESS: Record<ServiceAction, string> = {
  startService: 'Starting the service…',
  stopService: 'Stopping the service…',
  restartService: 'Restarting the service…',
  drain: 'Starting the drain…',
};

/** Settings → Runtime host service: start, stop, restart. */
export function ServiceCard({ report }: { report: StatusReport }) {
  const serviceAction = useApp((s) => s.serviceAction);
  const serviceError = useApp((s) => s.serviceError);
  const run = useApp((s) => s.runServiceAction);
  const running = report.serviceRunning;
  const pending = serviceAction !== null;
  return (
    <Card title="Runtime host service">
      <p className={`service-state service-state--${running ? 'running' : 'stopped'}`}>
        {running ? <PlayIcon size={18} /> : <StopIcon size={18} />}
        <span>
          The Integration Runtime Host Service is <strong>{running ? 'running' : 'stopped'}</strong>.
        </span>
      </p>
      <p className="muted small">
        Stopping it takes this node offline: the control plane sends its jobs to the other nodes of the
        integration runtime.
      </p>
      <div className="button-row">
        <Button
          variant="primary"
          icon={<PlayIcon size={18} />}
          busy={serviceAction === 'startService'}
          disabled={running || pending}
          onClick={() => void run('startService')}
        >
          Start service
        </Button>
        <Button
          variant="danger"
          icon={<StopIcon size={18} />}
          busy={serviceAction === 'stopService'}
          disabled={!running || pending}
          onClick={() => void run('stopService')}
        >
          Stop service
        </Button>
        {running || serviceAction === 'restartService' ? (
          // Absent, not disabled, while stopped: there is nothing to restart, and "Start service" stays
          // the only button of that name for keyboard and screen-reader users.
          <Button
            icon={<RestartIcon size={18} />}
            busy={serviceAction === 'restartService'}
            disabled={pending}
            onClick={() => void run('restartService')}
          >
            Restart service
          </Button>
        ) : null}
      </div>
      <DrainControl report={report} />
      <div role="status" className="small muted status-line">
        {serviceAction ? ACTION_PROGRESS[serviceAction] : ''}
      </div>
      <div role="alert">
        {serviceError ? (
          <Callout tone="error" title="The service action failed.">
            <ErrorDetails error={serviceError} />
          </Callout>
        ) : null}
      </div>
    </Card>
  );
}
