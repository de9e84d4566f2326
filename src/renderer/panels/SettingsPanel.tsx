import { useEffect, useId, useState } from 'react';
import { LOG_LEVELS, type LogLevel, type StatusReport } from '../../shared/contract';
import {
  CheckCircleIcon,
  GlobeIcon,
  PlayIcon,
  RestartIcon,
  ShieldIcon,
  StopIcon,
  WarningIcon,
} from '../components/Icons';
import { Button, Callout, Card, ErrorDetails, Fact, Facts, Spinner } from '../components/ui';
import { formatDateTime } from '../format';
import { ChangeProxyButton } from '../components/ChangeProxyButton';
import { PROXY_MODE_LABEL, proxyHostPort, SYSTEM_PROXY_HELP } from '../proxyForm';
import { useApp, type ServiceAction } from '../store';

export function SettingsPanel() {
  const report = useApp((s) => s.report);
  if (!report) return null;
  return (
    <div className="page">
      <h2 className="visually-hidden">Settings</h2>
      <div className="grid">
        <NodeCard report={report} />
        <ProxyCard report={report} />
        <ServiceCard report={report} />
        <SecretStoreCard report={report} />
        <LoggingCard />
      </div>
    </div>
  );
}

function NodeCard({ report }: { report: StatusReport }) {
  return (
    <Card title="This node">
      <Facts>
        <Fact label="Node name">{report.node ? <strong>{report.node.name}</strong> : <NotRegistered />}</Fact>
        <Fact label="Integration runtime">{report.ir ? report.ir.name : <NotRegistered />}</Fact>
        <Fact label="Machine name">
          {report.node ? <span className="mono break">{report.node.fqdn}</span> : '—'}
        </Fact>
        <Fact label="Control plane">
          {report.controlPlane ? <span className="mono break">{report.controlPlane.endpoint}</span> : '—'}
        </Fact>
        <Fact label="Data directory">
          <span className="mono break">{report.host.dataDir}</span>
        </Fact>
        <Fact label="Version">{report.version}</Fact>
        <Fact label="Host process">
          PID {report.host.pid}, up since {formatDateTime(report.host.startedAt)}
        </Fact>
      </Facts>
    </Card>
  );
}

function NotRegistered() {
  return <span className="muted">Not registered</span>;
}

function ProxyCard({ report }: { report: StatusReport }) {
  const view = useApp((s) => s.proxyView);
  const loadError = useApp((s) => s.proxyLoadError);
  const saved = useApp((s) => s.proxySaved);
  const refresh = useApp((s) => s.refreshProxy);
  const settings = view?.settings;
  return (
    <Card
      title="HTTP proxy"
      icon={<GlobeIcon size={20} className="muted" />}
      actions={<ChangeProxyButton context={{ from: 'settings' }} disabled={!view} />}
    >
      {view && settings ? (
        <Facts>
          <Fact label="Setting">
            <strong>{PROXY_MODE_LABEL[settings.mode]}</strong>
          </Fact>
          {settings.mode === 'custom' ? (
            <>
              <Fact label="Proxy server">
                <span className="mono break">{proxyHostPort(settings)}</span>
              </Fact>
              <Fact label="User">
                {settings.user ? (
                  <>
                    <span className="break">{settings.user}</span>
                    <span className="tag">{view.hasPassword ? 'password set' : 'no password'}</span>
                  </>
                ) : (
                  <span className="muted">None (no authentication)</span>
                )}
              </Fact>
            </>
          ) : null}
          <Fact label="Route to the control plane">
            {view.route ? (
              <>
                {view.route.kind === 'proxy' && view.route.proxy ? (
                  <>
                    Through <span className="mono break">{view.route.proxy}</span>
                  </>
                ) : (
                  'Direct connection'
                )}
                <span className="muted"> — {view.route.reason}</span>
              </>
            ) : (
              <span className="muted">Known once this node is registered.</span>
            )}
          </Fact>
        </Facts>
      ) : loadError ? null : (
        <p className="inline-status muted">
          <Spinner />
          <span>Loading the proxy setting…</span>
        </p>
      )}
      {settings?.mode === 'system' ? <p className="muted small">{SYSTEM_PROXY_HELP}</p> : null}
      <p role="status" className="small status-line">
        {saved === 'settings' ? <SavedNotice report={report} /> : null}
      </p>
      {loadError ? (
        <Callout tone="error" title="The proxy setting could not be loaded.">
          <ErrorDetails error={loadError} />
          <div className="callout__actions">
            <Button onClick={() => void refresh()}>Try again</Button>
          </div>
        </Callout>
      ) : null}
    </Card>
  );
}

/** After a save the host service restarts; this follows the node until it is back. */
function SavedNotice({ report }: { report: StatusReport }) {
  if (!report.registered)
    return (
      <span className="inline-status tone-ok">
        <CheckCircleIcon size={16} />
        <span>Proxy setting saved. Registration uses it.</span>
      </span>
    );
  if (!report.serviceRunning)
    return (
      <span className="inline-status">
        <CheckCircleIcon size={16} className="tone-ok" />
        <span>Proxy setting saved. It takes effect when the host service starts.</span>
      </span>
    );
  switch (report.status) {
    case 'Online':
    case 'Limited':
      return (
        <span className="inline-status tone-ok">
          <CheckCircleIcon size={16} />
          <span>Proxy setting saved. The node reconnected to the control plane.</span>
        </span>
      );
    case 'Offline':
      return (
        <span className="inline-status tone-warn">
          <WarningIcon size={16} />
          <span>
            Proxy setting saved, but the node cannot reach the control plane with it. See the last error on
            Home, or change the proxy and test it.
          </span>
        </span>
      );
    default:
      return (
        <span className="inline-status">
          <Spinner />
          <span>Proxy setting saved. The host service restarted; the node is reconnecting…</span>
        </span>
      );
  }
}

const ACTION_PROGRESS: Record<ServiceAction, string> = {
  startService: 'Starting the service…',
  stopService: 'Stopping the service…',
  restartService: 'Restarting the service…',
};

function ServiceCard({ report }: { report: StatusReport }) {
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

function SecretStoreCard({ report }: { report: StatusReport }) {
  const vault = report.vault;
  const weak = vault.strength === 'weak';
  return (
    <Card
      title="Secret store"
      className={weak ? 'card--warn' : undefined}
      icon={<ShieldIcon size={20} weak={weak} className={weak ? 'tone-warn' : 'tone-ok'} />}
    >
      <p className="secret-store__label">
        <strong>{vault.label}</strong>
        <span className={`strength strength--${vault.strength}`}>
          {weak ? 'Weaker protection' : 'Strong protection'}
        </span>
      </p>
      {weak ? (
        <Callout
          tone="warn"
          title="Secrets on this node are less well protected than with an OS secret store."
        >
          <p>{vault.description}</p>
        </Callout>
      ) : (
        <p>{vault.description}</p>
      )}
      <p className="muted small">
        It protects this node&apos;s own secrets (its node credential and proxy password) and the data store
        credentials kept on this node.
      </p>
    </Card>
  );
}

const LEVEL_HELP: Record<LogLevel, string> = {
  debug: 'Everything, including detail for troubleshooting. Verbose.',
  info: 'Normal operation: registration, connections, service changes.',
  warn: 'Only warnings and errors.',
  error: 'Only errors.',
};

function LoggingCard() {
  const logLevel = useApp((s) => s.logLevel);
  const saving = useApp((s) => s.logLevelSaving);
  const error = useApp((s) => s.logLevelError);
  const setLogLevel = useApp((s) => s.setLogLevel);
  const selectId = useId();
  const helpId = useId();
  const [saved, setSaved] = useState<LogLevel | null>(null);

  useEffect(() => {
    if (!saved) return;
    const timer = setTimeout(() => setSaved(null), 4000);
    return () => clearTimeout(timer);
  }, [saved]);

  return (
    <Card title="Logging">
      <div className="field">
        <label htmlFor={selectId} className="field__label">
          Log level
        </label>
        <div className="inline-controls">
          <select
            id={selectId}
            className="select"
            value={logLevel ?? ''}
            disabled={logLevel === null || saving}
            aria-describedby={helpId}
            onChange={(event) => {
              const level = LOG_LEVELS.find((candidate) => candidate === event.target.value);
              if (!level) return;
              setSaved(null);
              void setLogLevel(level).then(() => setSaved(level));
            }}
          >
            {logLevel === null ? <option value="">Loading…</option> : null}
            {LOG_LEVELS.map((level) => (
              <option key={level} value={level}>
                {level}
              </option>
            ))}
          </select>
          {saving ? <Spinner /> : null}
        </div>
        <p id={helpId} className="field__hint">
          The minimum level written to the log file and shown in Diagnostics.{' '}
          {logLevel ? LEVEL_HELP[logLevel] : null}
        </p>
        <p role="status" className="small status-line tone-ok">
          {saved && !error ? `Log level set to ${saved}.` : ''}
        </p>
        <div role="alert">
          {error ? (
            <Callout tone="error" title="The log level could not be changed.">
              <ErrorDetails error={error} />
            </Callout>
          ) : null}
        </div>
      </div>
    </Card>
  );
}
