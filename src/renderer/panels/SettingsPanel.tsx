import { useEffect, useId, useState } from 'react';
import type { StoredCertificate } from '../../shared/certificates';
import { LOG_LEVELS, type LogLevel, type StatusReport } from '../../shared/contract';
import {
  CertificateFacts,
  CertificateStatus,
  GenerateCertificateForm,
  ImportCertificateForm,
} from '../components/Certificates';
import { downloadText } from '../files';
import {
  CheckCircleIcon,
  DownloadIcon,
  GlobeIcon,
  KeyIcon,
  PlayIcon,
  RestartIcon,
  ShieldIcon,
  StopIcon,
  TrashIcon,
  WarningIcon,
} from '../components/Icons';
import { ConfirmDialog } from '../components/ConfirmDialog';
import {
  Button,
  Callout,
  Card,
  Code,
  ErrorDetails,
  ErrorSlot,
  Fact,
  Facts,
  Field,
  LoadFailed,
  Loading,
  Spinner,
} from '../components/ui';
import { formatDateTime } from '../format';
import { ChangeProxyButton } from '../components/ChangeProxyButton';
import { BackupCard } from '../components/BackupCard';
import { CredentialsCard } from '../components/CredentialsCard';
import { JobsCard } from '../components/JobsCard';
import { PROXY_MODE_LABEL, proxyHostPort, SYSTEM_PROXY_HELP } from '../proxyForm';
import { pemFileName, REMOTE_ACCESS_MODE_LABEL, shortThumbprint, subjectName } from '../remoteAccessForm';
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
        <RemoteAccessCard />
        <ServiceCard report={report} />
        <SecretStoreCard report={report} />
        <LoggingCard />
        <JobsCard />
        <CredentialsCard />
        <CertificatesCard />
        <BackupCard report={report} />
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
        <Loading text="Loading the proxy setting…" />
      )}
      {settings?.mode === 'system' ? <p className="muted small">{SYSTEM_PROXY_HELP}</p> : null}
      <p role="status" className="small status-line">
        {saved === 'settings' ? <SavedNotice report={report} /> : null}
      </p>
      {loadError ? (
        <LoadFailed
          title="The proxy setting could not be loaded."
          error={loadError}
          onRetry={() => void refresh()}
        />
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
  const [saved, setSaved] = useState<LogLevel | null>(null);

  useEffect(() => {
    if (!saved) return;
    const timer = setTimeout(() => setSaved(null), 4000);
    return () => clearTimeout(timer);
  }, [saved]);

  return (
    <Card title="Logging">
      <Field
        id={selectId}
        label="Log level"
        hint={
          <>
            The minimum level written to the log file and shown in Diagnostics.{' '}
            {logLevel ? LEVEL_HELP[logLevel] : null}
          </>
        }
        after={
          <>
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
          </>
        }
      >
        {(control) => (
          <div className="inline-controls">
            <select
              {...control}
              className="select"
              value={logLevel ?? ''}
              disabled={logLevel === null || saving}
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
        )}
      </Field>
    </Card>
  );
}

function RemoteAccessCard() {
  const view = useApp((s) => s.remoteAccess);
  const loadError = useApp((s) => s.remoteAccessLoadError);
  const saved = useApp((s) => s.remoteAccessSaved);
  const certificates = useApp((s) => s.certificates);
  const refresh = useApp((s) => s.refreshRemoteAccess);
  const open = useApp((s) => s.openRemoteAccessDialog);
  const reasonId = useId();
  const settings = view?.settings;
  const locked = view ? !view.changeAllowed : false;
  const cert =
    settings?.mode === 'tls'
      ? certificates?.find((candidate) => candidate.thumbprint === settings.thumbprint)
      : null;
  return (
    <Card
      title="Remote access from intranet"
      icon={<ShieldIcon size={20} className="muted" />}
      actions={
        <Button
          disabled={!view || locked}
          data-remote-access-opener=""
          aria-haspopup="dialog"
          aria-describedby={locked ? reasonId : undefined}
          title={locked && view?.changeBlockedReason ? view.changeBlockedReason : undefined}
          onClick={open}
        >
          Change<span className="visually-hidden"> remote access</span>
        </Button>
      }
    >
      {view && settings ? (
        <Facts>
          <Fact label="Setting">
            <strong>{REMOTE_ACCESS_MODE_LABEL[settings.mode]}</strong>
            {settings.mode === 'plain' ? (
              <span className="badge badge--warn badge--inline">
                <WarningIcon size={14} />
                <span>Not recommended</span>
              </span>
            ) : null}
          </Fact>
          {settings.mode === 'tls' ? (
            <Fact label="Certificate">
              {cert ? (
                <>
                  <span className="break">{cert.subject || subjectName(cert.subject)}</span>{' '}
                  <span className="muted mono" title={cert.thumbprint}>
                    ({shortThumbprint(cert.thumbprint)})
                  </span>
                </>
              ) : (
                <span className="mono break">{settings.thumbprint}</span>
              )}
            </Fact>
          ) : null}
          {settings.mode !== 'disabled' ? <Fact label="Port">{settings.port}</Fact> : null}
          {settings.mode !== 'disabled' ? (
            <Fact label="Listener">
              {view.listening ? (
                <span className="inline-status tone-ok">
                  <CheckCircleIcon size={16} />
                  <span>Listening</span>
                </span>
              ) : (
                <span className="inline-status tone-warn">
                  <WarningIcon size={16} />
                  <span>Not listening. It listens while the host service runs.</span>
                </span>
              )}
            </Fact>
          ) : null}
          {view.url && view.listening ? (
            <Fact label="URL">
              <span className="mono break" data-testid="remote-access-url">
                {view.url}
              </span>
            </Fact>
          ) : null}
        </Facts>
      ) : loadError ? null : (
        <Loading text="Loading the remote access setting…" />
      )}
      {view?.warning ? (
        <Callout
          tone="warn"
          title={settings?.mode === 'plain' ? 'Not recommended' : 'Before other nodes join'}
        >
          <p>
            <Code text={view.warning} />
          </p>
        </Callout>
      ) : null}
      {locked ? (
        <Callout tone="info" title="Remote access cannot be changed now.">
          <p id={reasonId}>
            {view?.changeBlockedReason ??
              'It can be changed only while the integration runtime has a single node.'}
          </p>
        </Callout>
      ) : null}
      <p role="status" className="small status-line">
        {saved && view ? (
          <span className="inline-status tone-ok">
            <CheckCircleIcon size={16} />
            <span>
              Remote access saved.
              {view.url && view.listening ? ` Listening at ${view.url}.` : ''}
            </span>
          </span>
        ) : null}
      </p>
      {loadError ? (
        <LoadFailed
          title="The remote access setting could not be loaded."
          error={loadError}
          onRetry={() => void refresh()}
        />
      ) : null}
    </Card>
  );
}

function CertificatesCard() {
  const certificates = useApp((s) => s.certificates);
  const fqdn = useApp((s) => s.certificateFqdn);
  const loadError = useApp((s) => s.certificatesLoadError);
  const notice = useApp((s) => s.certificateNotice);
  const refresh = useApp((s) => s.refreshCertificates);
  const [panel, setPanel] = useState<'import' | 'generate' | null>(null);
  const [added, setAdded] = useState<StoredCertificate | null>(null);
  const [removing, setRemoving] = useState<StoredCertificate | null>(null);
  const panelId = useId();

  const onAdded = (cert: StoredCertificate) => {
    setPanel(null);
    setAdded(cert);
  };

  return (
    <Card
      title="Certificates"
      className="card--wide"
      icon={<KeyIcon size={20} className="muted" />}
      actions={
        <div className="button-row">
          <Button
            aria-expanded={panel === 'import'}
            aria-controls={panel === 'import' ? panelId : undefined}
            onClick={() => {
              setAdded(null);
              setPanel(panel === 'import' ? null : 'import');
            }}
          >
            Import certificate
          </Button>
          <Button
            aria-expanded={panel === 'generate'}
            aria-controls={panel === 'generate' ? panelId : undefined}
            onClick={() => {
              setAdded(null);
              setPanel(panel === 'generate' ? null : 'generate');
            }}
          >
            Generate self-signed
          </Button>
        </div>
      }
    >
      <p className="muted small">
        This node&apos;s certificate store, each certificate checked against the TLS requirements for remote
        access
        {fqdn ? (
          <>
            {' '}
            on <span className="mono break">{fqdn}</span>
          </>
        ) : null}
        . Private keys are kept in the secret store and never leave it, except in a PFX you export with a
        password from the command line.
      </p>
      {panel ? (
        <div id={panelId} className="cert-panel">
          <h4 className="cert-panel__title">
            {panel === 'import' ? 'Import a certificate' : 'Generate a self-signed certificate'}
          </h4>
          {panel === 'import' ? (
            <ImportCertificateForm onDone={onAdded} onCancel={() => setPanel(null)} />
          ) : (
            <GenerateCertificateForm defaultDnsName={fqdn} onDone={onAdded} onCancel={() => setPanel(null)} />
          )}
        </div>
      ) : null}
      <p role="status" className="small status-line tone-ok">
        {added ? `Added ${added.subject || 'the certificate'} to the store.` : (notice ?? '')}
      </p>
      {certificates ? (
        certificates.length === 0 ? (
          <p className="cert-list__empty muted">
            No certificates in this node&apos;s store yet. Import one (PFX with its password, or PEM with its
            key), or generate a self-signed certificate for this machine.
          </p>
        ) : (
          <ul className="cert-list" aria-label="Certificates in this node's store">
            {certificates.map((cert) => (
              <CertificateRow key={cert.thumbprint} cert={cert} onRemove={() => setRemoving(cert)} />
            ))}
          </ul>
        )
      ) : loadError ? (
        <LoadFailed
          title="The certificate store could not be read."
          error={loadError}
          onRetry={() => void refresh()}
        />
      ) : (
        <Loading text="Loading the certificate store…" />
      )}
      {removing ? <ConfirmRemove cert={removing} onDone={() => setRemoving(null)} /> : null}
    </Card>
  );
}

function CertificateRow({ cert, onRemove }: { cert: StoredCertificate; onRemove: () => void }) {
  const action = useApp((s) => s.certificateAction);
  const actionError = useApp((s) => s.certificateActionError);
  const exportPem = useApp((s) => s.exportCertificatePem);
  const setTrust = useApp((s) => s.setCertificateTrust);
  const remoteAccess = useApp((s) => s.remoteAccess);
  const inUse = remoteAccess?.settings.mode === 'tls' && remoteAccess.settings.thumbprint === cert.thumbprint;
  const mine = action?.thumbprint === cert.thumbprint ? action.action : null;
  const error = actionError?.thumbprint === cert.thumbprint ? actionError.error : null;
  const name = subjectName(cert.subject);
  const titleId = useId();
  const hidden = <span className="visually-hidden"> {name}</span>;
  return (
    <li className="cert-row" aria-labelledby={titleId}>
      <div className="cert-row__head">
        <p id={titleId} className="cert-row__title break">
          <strong>{cert.subject || '(no subject)'}</strong>
        </p>
        <span className="cert-row__tags">
          {inUse ? <span className="tag">used by remote access</span> : null}
          {cert.trustAnchor ? <span className="tag">trusted here</span> : null}
          <span className="tag">{cert.origin === 'self-signed' ? 'generated here' : 'imported'}</span>
        </span>
      </div>
      <CertificateStatus cert={cert} />
      <CertificateFacts cert={cert} />
      {cert.problems.length > 0 || cert.warnings.length > 0 ? (
        <details className="cert-row__details">
          <summary>
            Problems and fixes<span className="visually-hidden"> of {name}</span>
          </summary>
          <ul className="cert-problems">
            {[...cert.problems, ...cert.warnings].map((problem) => (
              <li key={problem.code} className="cert-problem">
                <span className="mono">
                  <strong>{problem.code}</strong>
                </span>
                <p>{problem.message}</p>
                <p className="muted">
                  <strong>How to fix: </strong>
                  <Code text={problem.fix} />
                </p>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <div className="button-row">
        <Button
          icon={<DownloadIcon size={16} />}
          busy={mine === 'export'}
          disabled={action !== null}
          onClick={() =>
            void exportPem(cert.thumbprint).then((pem) => {
              if (pem !== null) downloadText(pemFileName(cert), pem);
            })
          }
        >
          Export PEM{hidden}
        </Button>
        <Button
          busy={mine === 'trust'}
          disabled={action !== null}
          onClick={() => void setTrust(cert.thumbprint, !cert.trustAnchor)}
        >
          {cert.trustAnchor ? 'Untrust' : 'Trust'}
          {hidden}
        </Button>
        <Button
          variant="danger"
          icon={<TrashIcon size={16} />}
          busy={mine === 'remove'}
          disabled={action !== null}
          aria-haspopup="dialog"
          onClick={onRemove}
        >
          Remove{hidden}
        </Button>
      </div>
      <ErrorSlot error={error} title="The action on this certificate failed." />
    </li>
  );
}

function ConfirmRemove({ cert, onDone }: { cert: StoredCertificate; onDone: () => void }) {
  const remove = useApp((s) => s.removeCertificate);
  const remoteAccess = useApp((s) => s.remoteAccess);
  const inUse = remoteAccess?.settings.mode === 'tls' && remoteAccess.settings.thumbprint === cert.thumbprint;
  return (
    <ConfirmDialog
      title="Remove this certificate?"
      confirmLabel="Remove"
      confirmIcon={<TrashIcon size={18} />}
      onConfirm={() => {
        onDone();
        void remove(cert.thumbprint);
      }}
      onCancel={onDone}
    >
      <p>
        <strong className="break">{cert.subject || '(no subject)'}</strong> (thumbprint{' '}
        <span className="mono">{shortThumbprint(cert.thumbprint)}</span>) and its private key are deleted from
        this node. This cannot be undone.
      </p>
      {inUse ? (
        <p>
          <strong>Remote access uses this certificate.</strong> Choose another one first, or remote access
          stops working.
        </p>
      ) : null}
    </ConfirmDialog>
  );
}
