import { useId, useRef, useState, type FormEvent } from 'react';
import type { CredentialView } from '../../shared/credentials';
import {
  checkCredentialForm,
  CREDENTIAL_TYPE_HELP,
  CREDENTIAL_TYPE_LABEL,
  CREDENTIAL_TYPES,
  credentialFacts,
  emptyForm,
  formFromView,
  savedSecrets,
  type CredentialField,
  type CredentialForm,
} from '../credentialForm';
import type { UiError } from '../errors';
import { formatDateTime } from '../format';
import { useApp } from '../store';
import { KeyIcon, TrashIcon } from './Icons';
import { ConfirmDialog } from './ConfirmDialog';
import { Modal } from './Modal';
import {
  Button,
  Card,
  DoneLine,
  ErrorSlot,
  Fact,
  Facts,
  Field,
  FieldProblem,
  LoadFailed,
  Loading,
  Spinner,
} from './ui';

type DialogState = { mode: 'add' } | { mode: 'edit'; view: CredentialView } | null;

/** Settings → Data store credentials: the linked services held on this node, never a secret shown. */
export function CredentialsCard() {
  const credentials = useApp((s) => s.credentials);
  const loadError = useApp((s) => s.credentialsLoadError);
  const refresh = useApp((s) => s.refreshCredentials);
  const remove = useApp((s) => s.deleteCredential);
  const [dialog, setDialog] = useState<DialogState>(null);
  const [deleting, setDeleting] = useState<CredentialView | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<UiError | null>(null);

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
          data-credential-opener=""
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
        credentials.length === 0 ? (
          <p className="cert-list__empty muted">
            No data store credentials on this node yet. Add one for a local folder, an HTTP(S) endpoint or a
            PostgreSQL database.
          </p>
        ) : (
          <ul className="cert-list" aria-label="Data store credentials on this node">
            {credentials.map((view) => (
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
            ))}
          </ul>
        )
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
  const titleId = useId();
  const hidden = <span className="visually-hidden"> {view.name}</span>;
  return (
    <li className="cert-row" aria-labelledby={titleId} data-credential={view.name}>
      <div className="cert-row__head">
        <p id={titleId} className="cert-row__title break">
          <strong>{view.name}</strong>
        </p>
        <span className="cert-row__tags">
          <span className="tag">{CREDENTIAL_TYPE_LABEL[view.type]}</span>
        </span>
      </div>
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
        <p className="cert-badges">
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
    </li>
  );
}

function ConfirmDelete({
  view,
  onCancel,
  onConfirm,
}: {
  view: CredentialView;
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
      returnFocus={() => document.querySelector<HTMLElement>('[data-credential-opener]')}
    >
      <p>
        The credential <strong className="break">{view.name}</strong> ({CREDENTIAL_TYPE_LABEL[view.type]}) and
        its secrets are deleted from this node. Jobs that name it fail until it is added again. This cannot be
        undone.
      </p>
    </ConfirmDialog>
  );
}

function CredentialDialog({
  editing,
  onClose,
  onSaved,
}: {
  editing: CredentialView | null;
  onClose: () => void;
  onSaved: (view: CredentialView) => void;
}) {
  const save = useApp((s) => s.saveCredential);
  const [form, setForm] = useState<CredentialForm>(() => (editing ? formFromView(editing) : emptyForm()));
  const [problems, setProblems] = useState<Partial<Record<CredentialField, string>>>({});
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<UiError | null>(null);
  const formId = useId();
  const introId = useId();
  const typeId = useId();
  const base = useId();
  const initialFocus = useRef<HTMLInputElement | null>(null);
  const idOf = (field: CredentialField) => `${base}-${field}`;

  const update = (patch: Partial<CredentialForm>) => {
    setForm((current) => ({ ...current, ...patch }));
    setProblems((current) => {
      const next = { ...current };
      for (const key of Object.keys(patch)) delete next[key as CredentialField];
      return next;
    });
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (saving) return;
    const checked = checkCredentialForm(form, editing);
    if ('problems' in checked) {
      setProblems(checked.problems);
      const first = Object.keys(checked.problems)[0] as CredentialField | undefined;
      if (first) document.getElementById(idOf(first))?.focus();
      return;
    }
    setSaving(true);
    setSaveError(null);
    const outcome = await save(checked.input);
    setSaving(false);
    if (outcome.ok) onSaved(outcome.value);
    else setSaveError(outcome.error);
  };

  const field = (
    name: CredentialField,
    label: string,
    options: {
      hint?: string;
      secret?: boolean;
      mono?: boolean;
      placeholder?: string;
      value: string;
      onChange: (value: string) => void;
      inputMode?: 'numeric';
      disabled?: boolean;
    },
  ) => {
    return (
      <Field id={idOf(name)} label={label} hint={options.hint} problem={problems[name]}>
        {(control) => (
          <input
            {...control}
            className={options.mono ? 'input input--mono' : 'input'}
            type={options.secret ? 'password' : 'text'}
            value={options.value}
            onChange={(event) => options.onChange(event.target.value)}
            autoComplete={options.secret ? 'new-password' : 'off'}
            autoCapitalize="off"
            spellCheck={false}
            inputMode={options.inputMode}
            placeholder={options.placeholder}
            disabled={saving || options.disabled}
          />
        )}
      </Field>
    );
  };

  const savedHttp = editing?.type === 'http' ? editing : null;
  const savedPg = editing?.type === 'postgresql' ? editing : null;

  return (
    <Modal
      title="Data store credential"
      onClose={onClose}
      canClose={!saving}
      initialFocus={initialFocus}
      describedBy={introId}
      className="modal--proxy"
      returnFocus={() => document.querySelector<HTMLElement>('[data-credential-opener]')}
      footer={
        <>
          <Button onClick={onClose} disabled={saving}>
            Cancel
          </Button>
          <Button type="submit" form={formId} variant="primary" busy={saving}>
            Save
          </Button>
        </>
      }
    >
      <p id={introId} className="muted">
        {editing
          ? `Change the credential ${editing.name}. Secret fields are empty: leave them empty to keep the saved secret, or type a new one.`
          : 'A named connection to a data store. Secrets go to this node’s secret store and are never shown again.'}
      </p>
      <form id={formId} className="form form--dialog" onSubmit={(event) => void onSubmit(event)} noValidate>
        {field('name', 'Name', {
          value: form.name,
          onChange: (name) => update({ name }),
          disabled: editing !== null,
          hint: editing
            ? 'The name cannot change; add a new credential and delete this one to rename it.'
            : 'Letters, digits, ".", "_" and "-"; jobs refer to it as name:path.',
          placeholder: 'sales-files',
        })}
        <fieldset
          className="choice-group"
          role="radiogroup"
          aria-labelledby={typeId}
          disabled={saving || editing !== null}
        >
          <legend id={typeId} className="field__label">
            Type
          </legend>
          {CREDENTIAL_TYPES.map((type) => {
            const id = `${typeId}-${type}`;
            return (
              <div key={type} className={`choice${form.type === type ? ' choice--selected' : ''}`}>
                <input
                  id={id}
                  ref={(element) => {
                    if (element && type === form.type && !initialFocus.current && !editing)
                      initialFocus.current = element;
                  }}
                  type="radio"
                  name={typeId}
                  value={type}
                  checked={form.type === type}
                  onChange={() => update({ type })}
                  aria-describedby={`${id}-help`}
                />
                <div className="choice__text">
                  <label htmlFor={id} className="choice__label">
                    {CREDENTIAL_TYPE_LABEL[type]}
                  </label>
                  <p id={`${id}-help`} className="field__hint">
                    {CREDENTIAL_TYPE_HELP[type]}
                  </p>
                </div>
              </div>
            );
          })}
        </fieldset>

        {form.type === 'localFolder' ? (
          <div className="proxy-fields">
            {field('root', 'Root folder', {
              value: form.root,
              onChange: (root) => update({ root }),
              mono: true,
              placeholder: '/srv/exports',
              hint: 'An absolute path inside an allowed folder (Settings → Jobs). Job paths are relative to it.',
            })}
          </div>
        ) : null}

        {form.type === 'http' ? (
          <div className="proxy-fields">
            {field('baseUrl', 'Base URL', {
              value: form.baseUrl,
              onChange: (baseUrl) => update({ baseUrl }),
              mono: true,
              placeholder: 'https://data.example.com/exports/',
              hint: 'Job paths are resolved against it.',
            })}
            {field('bearerToken', 'Bearer token (optional)', {
              value: form.bearerToken,
              onChange: (bearerToken) => update({ bearerToken }),
              secret: true,
              placeholder: savedHttp?.hasBearerToken ? 'unchanged' : undefined,
              hint: savedHttp?.hasBearerToken
                ? 'A token is saved. Leave this empty to keep it, or type a new one.'
                : 'Sent as Authorization: Bearer … with every request.',
            })}
            <HeaderRows
              form={form}
              update={update}
              saving={saving}
              problem={problems.headers}
              savedNames={savedHttp?.headerNames ?? []}
              problemId={`${idOf('headers')}-problem`}
              firstId={idOf('headers')}
            />
          </div>
        ) : null}

        {form.type === 'postgresql' ? (
          <div className="proxy-fields">
            <div className="proxy-fields__row">
              <div className="field--grow">
                {field('host', 'Server', {
                  value: form.host,
                  onChange: (host) => update({ host }),
                  mono: true,
                  placeholder: 'db.corp.example',
                })}
              </div>
              <div className="field--port">
                {field('port', 'Port', {
                  value: form.port,
                  onChange: (port) => update({ port }),
                  inputMode: 'numeric',
                })}
              </div>
            </div>
            {field('database', 'Database', {
              value: form.database,
              onChange: (database) => update({ database }),
              mono: true,
            })}
            {field('user', 'User name', {
              value: form.user,
              onChange: (user) => update({ user }),
              mono: true,
            })}
            {field('password', savedPg?.hasPassword ? 'Password (optional)' : 'Password', {
              value: form.password,
              onChange: (password) => update({ password }),
              secret: true,
              placeholder: savedPg?.hasPassword ? 'unchanged' : undefined,
              hint: savedPg?.hasPassword
                ? 'A password is saved. Leave this empty to keep it, or type a new one.'
                : undefined,
            })}
            <label className="checkbox" htmlFor={`${base}-ssl`}>
              <input
                id={`${base}-ssl`}
                type="checkbox"
                checked={form.ssl}
                disabled={saving}
                onChange={(event) => update({ ssl: event.target.checked })}
              />
              <span>Require TLS to the server</span>
            </label>
          </div>
        ) : null}
      </form>
      <div role="status" className="status-line">
        {saving ? (
          <span className="inline-status">
            <Spinner />
            <span>Saving the credential…</span>
          </span>
        ) : null}
      </div>
      <ErrorSlot error={saveError} title="The credential could not be saved." />
    </Modal>
  );
}

function HeaderRows({
  form,
  update,
  saving,
  problem,
  savedNames,
  problemId,
  firstId,
}: {
  form: CredentialForm;
  update: (patch: Partial<CredentialForm>) => void;
  saving: boolean;
  problem: string | undefined;
  savedNames: string[];
  problemId: string;
  firstId: string;
}) {
  const headingId = useId();
  const setRow = (index: number, patch: Partial<{ name: string; value: string }>) =>
    update({ headers: form.headers.map((row, i) => (i === index ? { ...row, ...patch } : row)) });
  return (
    <div className="field" role="group" aria-labelledby={headingId}>
      <p id={headingId} className="field__label">
        Headers (optional)
      </p>
      <p className="field__hint">
        {savedNames.length > 0
          ? `Saved: ${savedNames.join(', ')} (values kept). Headers added here replace all the saved ones.`
          : 'Sent with every request, e.g. X-Api-Key. Their values are kept as secrets.'}
      </p>
      {form.headers.map((row, index) => (
        <div key={index} className="header-row">
          <div className="field field--grow">
            <label htmlFor={index === 0 ? firstId : `${firstId}-${index}`} className="field__label small">
              Header name {index + 1}
            </label>
            <input
              id={index === 0 ? firstId : `${firstId}-${index}`}
              className="input input--mono"
              value={row.name}
              disabled={saving}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={problem ? true : undefined}
              aria-describedby={problem ? problemId : undefined}
              onChange={(event) => setRow(index, { name: event.target.value })}
            />
          </div>
          <div className="field field--grow">
            <label htmlFor={`${firstId}-${index}-value`} className="field__label small">
              Value {index + 1}
            </label>
            <input
              id={`${firstId}-${index}-value`}
              className="input"
              type="password"
              autoComplete="new-password"
              value={row.value}
              disabled={saving}
              onChange={(event) => setRow(index, { value: event.target.value })}
            />
          </div>
          <Button
            variant="ghost"
            icon={<TrashIcon size={16} />}
            disabled={saving}
            onClick={() => update({ headers: form.headers.filter((_, i) => i !== index) })}
          >
            Remove<span className="visually-hidden"> header {index + 1}</span>
          </Button>
        </div>
      ))}
      <div>
        <Button
          disabled={saving}
          onClick={() => update({ headers: [...form.headers, { name: '', value: '' }] })}
        >
          Add header
        </Button>
      </div>
      <FieldProblem id={problemId} problem={problem} />
    </div>
  );
}
