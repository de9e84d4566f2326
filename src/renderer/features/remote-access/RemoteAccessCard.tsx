import { useId, useRef } from 'react';
import { CheckCircleIcon, ShieldIcon, WarningIcon } from '../../components/Icons';
import { Button, Callout, Card, Code, Fact, Facts, LoadFailed, Loading } from '../../components/ui';
import { useApp } from '../../store';
import { shortThumbprint, subjectName } from '../certificates/certificateText';
import { RemoteAccessDialog } from './RemoteAccessDialog';
import { REMOTE_ACCESS_MODE_LABEL } from './remoteAccessForm';

/** Settings → Remote access from intranet: the setting, its listener and URL, and the dialog that changes it. */
export function RemoteAccessCard() {
  const { value: view, loadError } = useApp((s) => s.remoteAccess);
  const saved = useApp((s) => s.remoteAccessDialog.saved !== null);
  const certificates = useApp((s) => s.certificates.value?.certificates ?? null);
  const refresh = useApp((s) => s.refreshRemoteAccess);
  const open = useApp((s) => s.openRemoteAccessDialog);
  const reasonId = useId();
  const openerRef = useRef<HTMLButtonElement>(null);
  const settings = view?.settings;
  const locked = view ? !view.changeAllowed : false;
  const cert =
    settings?.mode === 'tls'
      ? certificates?.find((candidate) => candidate.thumbprint === settings.thumbprint)
      : null;
  return (
    <>
      <Card
        title="Remote access from intranet"
        icon={<ShieldIcon size={20} className="muted" />}
        actions={
          <Button
            disabled={!view || locked}
            ref={openerRef}
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
      <RemoteAccessDialog returnFocus={openerRef} />
    </>
  );
}
