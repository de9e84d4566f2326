import { useRef, useState, type RefObject } from 'react';
import type { CredentialView } from '../../../shared/credentials';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { KeyIcon, TrashIcon } from '../../components/Icons';
import { Button, Card, DoneLine, ErrorSlot, Fact, Facts, LoadFailed, Loading } from '../../components/ui';
import type { UiError } from '../../errors';
import { formatDateTime } from '../../format';
import { ItemList, ItemRow } from '../../components/lists';
import { useApp } from '../../store';
import { CredentialDialog } from './CredentialDialog';
import { CREDENTIAL_TYPE_LABEL, credentialFacts, savedSecrets } from './credentialForm';

type DialogState = { mode: 'add' } | { mode: 'edit'; view: CredentialView } | null;

/** Settings → Data store credentials: the linked services held on this node, never a secret shown. */
export function CredentialsCard() {
  const { value: list, loadError } = useApp((s) => s.credentials);
  const credentials = list?.credentials ?? null;
  const refresh = useApp((s) => s.refreshCredentials);
  const remove = useApp((s) => s.deleteCredential);
  const [dialog, setDialog] = useState<DialogState>(null);
  const [deleting, setDeleting] = useState<CredentialView | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  // Where focus goes when the row whose button opened a dialog is gone.
  const addRef = useRef<HTMLButtonElement>(null);

  const onDelete = async (view: CredentialView) => {
    setDeleting(null);
    setBusy(view.name);
    setNotice(null);
    setError(null);
    const outcome = await remove(view.name);
    setBusy(null);
    if (outcome.ok) setNotice(`Deleted the credential ${view.name} and its secrets.`);
    else setError(outcome.error);
  };

  return (
    <Card
      title="Data store credentials"
      className="card--wide"
      icon={<KeyIcon size={20} className="muted" />}
      actions={
        <Button
          variant="primary"
          aria-haspopup="dialog"
          ref={addRef}
          onClick={() => {
            setNotice(null);
            setDialog({ mode: 'add' });
          }}
        >
          Add credential
        </Button>
      }
    >
      <p className="muted small">
        The data stores jobs on this node may read and write (linked services). The control plane knows them
        only by name; jobs refer to them as <span className="mono">name:path</span>. Passwords, tokens and
        header values are kept encrypted in this node&apos;s secret store and are never shown again.
      </p>
      <DoneLine text={notice} />
      <ErrorSlot error={error} title="The credential could not be deleted." />
      {credentials ? (
        <ItemList
          label="Data store credentials on this node"
          items={credentials}
          empty="No data store credentials on this node yet. Add one for a local folder, an HTTP(S) endpoint or a PostgreSQL database."
        >
          {(view) => (
            <CredentialRow
              key={view.name}
              view={view}
              busy={busy === view.name}
              disabled={busy !== null}
              onEdit={() => {
                setNotice(null);
                setDialog({ mode: 'edit', view });
              }}
              onDelete={() => setDeleting(view)}
            />
          )}
        </ItemList>
      ) : loadError ? (
        <LoadFailed
          title="The data store credentials could not be loaded."
          error={loadError}
          onRetry={() => void refresh()}
        />
      ) : (
        <Loading text="Loading the data store credentials…" />
      )}
      {dialog ? (
        <CredentialDialog
          editing={dialog.mode === 'edit' ? dialog.view : null}
          returnFocus={addRef}
          onClose={() => setDialog(null)}
          onSaved={(view) => {
            setDialog(null);
            setNotice(`Saved the credential ${view.name}.`);
          }}
        />
      ) : null}
      {deleting ? (
        <ConfirmDelete
          view={deleting}
          returnFocus={addRef}
          onCancel={() => setDeleting(null)}
          onConfirm={() => void onDelete(deleting)}
        />
      ) : null}
    </Card>
  );
}

function CredentialRow({
  view,
  busy,
  disabled,
  onEdit,
  onDelete,
}: {
  view: CredentialView;
  busy: boolean;
  disabled: boolean;
  onEdit: () => void;
  onDelete: () => void;
}) {
  const hidden = <span className="visually-hidden"> {view.name}</span>;
  return (
    <ItemRow
      title={view.name}
      tags={<span className="tag">{CREDENTIAL_TYPE_LABEL[view.type]}</span>}
      data-credential={view.name}
    >
      <Facts>
        {credentialFacts(view).map((fact) => (
          <Fact key={fact.label} label={fact.label}>
            <span className={fact.mono ? 'mono break' : 'break'}>{fact.value}</span>
          </Fact>
        ))}
        <Fact label="Updated">
          {formatDateTime(view.updatedAt)}{' '}
          <span className="muted small">(version {view.version}, synced to every node of the IR)</span>
        </Fact>
      </Facts>
      {savedSecrets(view).length > 0 ? (
        <p className="badge-row">
          {savedSecrets(view).map((text) => (
            <span key={text} className={`badge badge--${text.startsWith('no ') ? 'off' : 'ok'}`}>
              <KeyIcon size={14} />
              <span>{text}</span>
            </span>
          ))}
        </p>
      ) : null}
      <div className="button-row">
        <Button aria-haspopup="dialog" disabled={disabled} onClick={onEdit}>
          Edit{hidden}
        </Button>
        <Button
          variant="danger"
          icon={<TrashIcon size={16} />}
          busy={busy}
          disabled={disabled}
          aria-haspopup="dialog"
          onClick={onDelete}
        >
          Delete{hidden}
        </Button>
      </div>
    </ItemRow>
  );
}

function ConfirmDelete({
  view,
  returnFocus,
  onCancel,
  onConfirm,
}: {
  view: CredentialView;
  returnFocus: RefObject<HTMLElement | null>;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  return (
    <ConfirmDialog
      title="Delete this credential?"
      confirmLabel="Delete"
      confirmIcon={<TrashIcon size={18} />}
      onConfirm={onConfirm}
      onCancel={onCancel}
      returnFocus={returnFocus}
    >
      <p>
        The credential <strong className="break">{view.name}</strong> ({CREDENTIAL_TYPE_LABEL[view.type]}) and
        its secrets are deleted from this node. Jobs that name it fail until it is added again. This cannot be
        undone.
      </p>
    </ConfirmDialog>
  );
}
