import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode, type RefObject } from 'react';
import type { CredentialTestReport } from '../../../shared/credentialTest';
import type { CredentialView } from '../../../shared/credentials';
import { CheckSection, formatMs } from '../../components/CheckSection';
import { TrashIcon } from '../../components/Icons';
import { Modal } from '../../components/Modal';
import { Button, ChoiceGroup, ErrorSlot, Field, FieldProblem, Spinner } from '../../components/ui';
import type { UiError } from '../../errors';
import { useApp } from '../../store';
import {
  BLOB_AUTH_HELP,
  BLOB_AUTH_KINDS,
  BLOB_AUTH_LABEL,
  BLOB_SECRET_LABEL,
  checkCredentialForm,
  CREDENTIAL_TYPE_HELP,
  CREDENTIAL_TYPE_LABEL,
  CREDENTIAL_TYPES,
  defaultPortFor,
  emptyForm,
  formFromView,
  SFTP_AUTH_HELP,
  SFTP_AUTH_KINDS,
  SFTP_AUTH_LABEL,
  type CredentialField,
  type CredentialForm,
} from './credentialForm';

/**
 * The "Data store credential" dialog: add one, or edit one (its name and type stay). Secret fields start
 * empty, also when editing: empty keeps the saved secret.
 */
export function CredentialDialog({
  editing,
  onClose,
  onSaved,
  returnFocus,
}: {
  editing: CredentialView | null;
  onClose: () => void;
  onSaved: (view: CredentialView) => void;
  returnFocus: RefObject<HTMLElement | null>;
}) {
  const save = useApp((s) => s.saveCredential);
  const runTest = useApp((s) => s.testCredential);
  const [testing, setTesting] = useState(false);
  const [test, setTest] = useState<CredentialTestReport | null>(null);
  const [testError, setTestError] = useState<UiError | null>(null);
  const testRef = useRef<HTMLElement>(null);
  const [form, setForm] = useState<CredentialForm>(() => (editing ? formFromView(editing) : emptyForm()));
  const [problems, setProblems] = useState<Partial<Record<CredentialField, string>>>({});
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<UiError | null>(null);
  const formId = useId();
  const introId = useId();
  const base = useId();
  const initialFocus = useRef<HTMLInputElement | null>(null);
  const idOf = (field: CredentialField) => `${base}-${field}`;

  // The result sits below the form: bring it into view (the dialog body scrolls).
  useEffect(() => {
    if (test || testError) testRef.current?.scrollIntoView({ block: 'start' });
  }, [test, testError]);

  const update = (patch: Partial<CredentialForm>) => {
    setForm((current) => ({ ...current, ...patch }));
    // A result belongs to the values it tested.
    setTest(null);
    setTestError(null);
    setProblems((current) => {
      const next = { ...current };
      for (const key of Object.keys(patch)) delete next[key as CredentialField];
      return next;
    });
  };

  /** The form as an input for the host, or null after showing its problems (the first one focused). */
  const checkedInput = () => {
    const checked = checkCredentialForm(form, editing);
    if (!('problems' in checked)) return checked.input;
    setProblems(checked.problems);
    const first = Object.keys(checked.problems)[0] as CredentialField | undefined;
    if (first) document.getElementById(idOf(first))?.focus();
    return null;
  };

  /** Tests the form as it stands, before saving: an empty secret field uses the saved secret. */
  const onTest = async () => {
    if (testing || saving) return;
    const input = checkedInput();
    if (!input) return;
    setTesting(true);
    setTest(null);
    setTestError(null);
    const outcome = await runTest({ credential: input });
    setTesting(false);
    if (outcome.ok) setTest(outcome.value);
    else setTestError(outcome.error);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (saving) return;
    const input = checkedInput();
    if (!input) return;
    setSaving(true);
    setSaveError(null);
    const outcome = await save(input);
    setSaving(false);
    if (outcome.ok) onSaved(outcome.value);
    else setSaveError(outcome.error);
  };

  const field = (
    name: CredentialField,
    label: string,
    options: {
      hint?: ReactNode;
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

  /** Server and port on one row: every network data store's first fields. */
  const serverRow = (placeholder: string) => (
    <div className="field-group__row">
      <div className="field--grow">
        {field('host', 'Server', {
          value: form.host,
          onChange: (host) => update({ host }),
          mono: true,
          placeholder,
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
  );

  /** Server, port and user name, for a store that has no database between them. */
  const serverFields = (placeholder: string) => (
    <>
      {serverRow(placeholder)}
      {field('user', 'User name', {
        value: form.user,
        onChange: (user) => update({ user }),
        mono: true,
      })}
    </>
  );

  const savedHttp = editing?.type === 'http' ? editing : null;
  const savedPg = editing?.type === 'postgresql' || editing?.type === 'mysql' ? editing : null;
  const savedBlob = editing?.type === 'azureBlob' ? editing : null;
  const blobSecretKept = savedBlob?.hasSecret === true && savedBlob.auth === form.blobAuth;
  const savedSftp = editing?.type === 'sftp' ? editing : null;
  const sftpSecretKept = savedSftp?.hasSecret === true && savedSftp.auth === form.sftpAuth;
  /** A key file read in the renderer: its text goes into the form, never its path. */
  const loadKeyFile = async (file: File | undefined) => {
    if (!file) return;
    if (file.size > 32_768) {
      setProblems((current) => ({ ...current, privateKey: 'That file is too big for a private key.' }));
      return;
    }
    update({ privateKey: await file.text() });
  };

  return (
    <Modal
      title="Data store credential"
      onClose={onClose}
      canClose={!saving}
      initialFocus={initialFocus}
      describedBy={introId}
      className="modal--form"
      returnFocus={returnFocus}
      footer={
        <>
          <Button
            onClick={() => void onTest()}
            busy={testing}
            disabled={saving}
            className="modal__footer-start"
          >
            {testing ? 'Testing…' : 'Test'}
          </Button>
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
        <ChoiceGroup
          legend="Type"
          options={CREDENTIAL_TYPES}
          value={form.type}
          onChange={(type) => update({ type, port: defaultPortFor(type, form.port) })}
          labels={CREDENTIAL_TYPE_LABEL}
          help={CREDENTIAL_TYPE_HELP}
          disabled={saving || editing !== null}
          initialFocus={editing ? undefined : initialFocus}
        />

        {form.type === 'localFolder' ? (
          <div className="field-group">
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
          <div className="field-group">
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

        {form.type === 'postgresql' || form.type === 'mysql' ? (
          <div className="field-group">
            {serverRow(form.type === 'mysql' ? 'mysql.corp.example' : 'db.corp.example')}
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

        {form.type === 'azureBlob' ? (
          <div className="field-group">
            {field('accountUrl', 'Account URL', {
              value: form.accountUrl,
              onChange: (accountUrl) => update({ accountUrl }),
              mono: true,
              placeholder: 'https://myaccount.blob.core.windows.net',
              hint: 'Or an emulator, such as http://127.0.0.1:10000/devstoreaccount1.',
            })}
            {field('container', 'Container', {
              value: form.container,
              onChange: (container) => update({ container }),
              mono: true,
              placeholder: 'exports',
              hint: 'Jobs name a blob in it: name:folder/file.csv.',
            })}
            <ChoiceGroup
              legend="Sign in with"
              options={BLOB_AUTH_KINDS}
              value={form.blobAuth}
              onChange={(blobAuth) => update({ blobAuth })}
              labels={BLOB_AUTH_LABEL}
              help={BLOB_AUTH_HELP}
              disabled={saving}
            />
            {field(
              'blobSecret',
              blobSecretKept
                ? BLOB_SECRET_LABEL[form.blobAuth].replace('(secret)', '(secret, optional)')
                : BLOB_SECRET_LABEL[form.blobAuth],
              {
                value: form.blobSecret,
                onChange: (blobSecret) => update({ blobSecret }),
                secret: true,
                placeholder: blobSecretKept ? 'unchanged' : undefined,
                hint: blobSecretKept
                  ? 'One is saved. Leave this empty to keep it, or type a new one.'
                  : 'Kept in this node’s secret store; never shown again.',
              },
            )}
          </div>
        ) : null}

        {form.type === 'sftp' ? (
          <div className="field-group">
            {serverFields('files.corp.example')}
            {field('root', 'Folder on the server', {
              value: form.root,
              onChange: (root) => update({ root }),
              mono: true,
              placeholder: '/',
              hint: 'Job paths are under it (no “..”); empty means /.',
            })}
            {field('hostKey', 'Host key fingerprint', {
              value: form.hostKey,
              onChange: (hostKey) => update({ hostKey }),
              mono: true,
              placeholder: 'SHA256:…',
              hint: (
                <>
                  Pinned: a server that shows another key is refused before any password or key is sent. On
                  the server, <code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> prints it; on this
                  node, <code>openir credential set … --type sftp --fetch-host-key</code> shows the key the
                  server offers and saves it once you confirm.
                </>
              ),
            })}
            <ChoiceGroup
              legend="Sign in with"
              options={SFTP_AUTH_KINDS}
              value={form.sftpAuth}
              onChange={(sftpAuth) => update({ sftpAuth })}
              labels={SFTP_AUTH_LABEL}
              help={SFTP_AUTH_HELP}
              disabled={saving}
            />
            {form.sftpAuth === 'password'
              ? field('password', sftpSecretKept ? 'Password (optional)' : 'Password', {
                  value: form.password,
                  onChange: (password) => update({ password }),
                  secret: true,
                  placeholder: sftpSecretKept ? 'unchanged' : undefined,
                  hint: sftpSecretKept
                    ? 'A password is saved. Leave this empty to keep it, or type a new one.'
                    : undefined,
                })
              : null}
            {form.sftpAuth === 'privateKey' ? (
              <>
                <Field
                  id={idOf('privateKey')}
                  label={sftpSecretKept ? 'Private key text (secret, optional)' : 'Private key text (secret)'}
                  problem={problems.privateKey}
                  hint={
                    sftpSecretKept
                      ? 'A key is saved. Leave this empty to keep it, or paste or load a new one.'
                      : 'Paste it, or load it from its file below. Its text is kept in this node’s secret store.'
                  }
                >
                  {(control) => (
                    <textarea
                      {...control}
                      className="input input--mono"
                      rows={4}
                      value={form.privateKey}
                      placeholder={sftpSecretKept ? 'unchanged' : '-----BEGIN OPENSSH PRIVATE KEY-----'}
                      spellCheck={false}
                      autoComplete="off"
                      disabled={saving}
                      onChange={(event) => update({ privateKey: event.target.value })}
                    />
                  )}
                </Field>
                <Field id={`${base}-keyfile`} label="Load the private key from a file">
                  {(control) => (
                    <input
                      {...control}
                      className="input input--file"
                      type="file"
                      disabled={saving}
                      onChange={(event) => void loadKeyFile(event.target.files?.[0])}
                    />
                  )}
                </Field>
                {field('passphrase', 'Passphrase (if the key has one)', {
                  value: form.passphrase,
                  onChange: (passphrase) => update({ passphrase }),
                  secret: true,
                })}
              </>
            ) : null}
          </div>
        ) : null}
        {field('allowFactories', 'Other data factories allowed (optional)', {
          value: form.allowFactories,
          onChange: (allowFactories) => update({ allowFactories }),
          mono: true,
          placeholder: 'factory-b, factory-c',
          hint: "When this node's IR is shared, jobs of these linked data factories may use this credential. Empty: only jobs of the factory that owns the IR; any other factory's job naming it fails with CREDENTIAL_NOT_SHARED before the store is opened.",
        })}
      </form>
      <CheckSection
        sectionRef={testRef}
        hint="Test tries the values above, before saving; an empty secret field uses the saved secret."
        busy={testing}
        busyText="Testing the connection with these values…"
        passed={test?.ok ? `Test passed: the data store answered (${formatMs(test.ms)}).` : null}
        failure={test && !test.ok ? (test.failure ?? null) : null}
        notRun={testError ? { error: testError, tone: 'error' } : null}
        stepsLabel={`Test steps of ${test?.name ?? ''}`}
        steps={
          test?.steps.map((step) => ({
            key: step.id,
            label: step.label,
            result: step.result,
            ms: step.ms,
            detail: step.error
              ? `${step.error.code}${step.error.storeCode ? ` (${step.error.storeCode})` : ''}`
              : (step.detail ?? ''),
          })) ?? null
        }
      />
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
