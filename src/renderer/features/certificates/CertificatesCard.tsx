import { useId, useState } from 'react';
import type { StoredCertificate } from '../../../shared/certificates';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { DownloadIcon, KeyIcon, TrashIcon } from '../../components/Icons';
import { Button, Card, Code, ErrorSlot, LoadFailed, Loading } from '../../components/ui';
import { downloadText } from '../../files';
import { ItemList, ItemRow } from '../../components/lists';
import { useApp } from '../../store';
import { AddCertificateButtons, AddCertificatePanel, type AddCertificateWay } from './CertificateForms';
import { CertificateFacts, CertificateStatus } from './Certificates';
import { pemFileName, shortThumbprint, subjectName } from './certificateText';

/** Settings → Certificates: this node's store, each certificate with its check, and the ways to add one. */
export function CertificatesCard() {
  const { value: list, loadError } = useApp((s) => s.certificates);
  const certificates = list?.certificates ?? null;
  const fqdn = list?.fqdn ?? null;
  const notice = useApp((s) => s.certificateNotice);
  const refresh = useApp((s) => s.refreshCertificates);
  const [panel, setPanel] = useState<AddCertificateWay | null>(null);
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
        <AddCertificateButtons
          open={panel}
          onToggle={(way) => {
            setAdded(null);
            setPanel(way);
          }}
          panelId={panelId}
          importLabel="Import certificate"
        />
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
        <AddCertificatePanel
          way={panel}
          id={panelId}
          defaultDnsName={fqdn}
          onDone={onAdded}
          onCancel={() => setPanel(null)}
        />
      ) : null}
      <p role="status" className="small status-line tone-ok">
        {added ? `Added ${added.subject || 'the certificate'} to the store.` : (notice ?? '')}
      </p>
      {certificates ? (
        <ItemList
          label="Certificates in this node's store"
          items={certificates}
          empty={
            <>
              No certificates in this node&apos;s store yet. Import one (PFX with its password, or PEM with
              its key), or generate a self-signed certificate for this machine.
            </>
          }
        >
          {(cert) => <CertificateRow key={cert.thumbprint} cert={cert} onRemove={() => setRemoving(cert)} />}
        </ItemList>
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
  const inUse = useInUse(cert);
  const mine = action?.thumbprint === cert.thumbprint ? action.action : null;
  const error = actionError?.thumbprint === cert.thumbprint ? actionError.error : null;
  const name = subjectName(cert.subject);
  const hidden = <span className="visually-hidden"> {name}</span>;
  return (
    <ItemRow
      title={cert.subject || '(no subject)'}
      tags={
        <>
          {inUse ? <span className="tag">used by remote access</span> : null}
          {cert.trustAnchor ? <span className="tag">trusted here</span> : null}
          <span className="tag">{cert.origin === 'self-signed' ? 'generated here' : 'imported'}</span>
        </>
      }
    >
      <CertificateStatus cert={cert} />
      <CertificateFacts cert={cert} />
      {cert.problems.length > 0 || cert.warnings.length > 0 ? (
        <details className="item-row__details">
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
    </ItemRow>
  );
}

function ConfirmRemove({ cert, onDone }: { cert: StoredCertificate; onDone: () => void }) {
  const remove = useApp((s) => s.removeCertificate);
  const inUse = useInUse(cert);
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

/** Whether remote access is set to use this certificate. */
function useInUse(cert: StoredCertificate): boolean {
  const settings = useApp((s) => s.remoteAccess.value?.settings);
  return settings?.mode === 'tls' && settings.thumbprint === cert.thumbprint;
}
