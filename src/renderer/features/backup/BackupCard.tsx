import { useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import {
  describeBackup,
  MAX_BACKUP_BYTES,
  MIN_BACKUP_PASSWORD_LENGTH,
  type BackupInfo,
} from '../../../shared/backup';
import type { StatusReport } from '../../../shared/contract';
import { DownloadIcon, PlugOffIcon, ShieldIcon } from '../../components/Icons';
import { Button, Callout, Card, DoneLine, ErrorSlot, Field, FileWithPassword } from '../../components/ui';
import type { UiError } from '../../errors';
import { downloadBase64, readAsBase64 } from '../../files';
import { formatDateTime } from '../../format';
import { useApp } from '../../store';
import { ConfirmUnregister } from './UnregisterDialog';

/**
 * Settings → Backup and restore: back up (downloaded as an encrypted file), restore (uploaded with its
 * password) and unregister, which offers a backup first. Passwords stay in this component's state only
 * while typed and go to the host, never to the store.
 */
export function BackupCard({ report }: { report: StatusReport }) {
  const backupPasswordRef = useRef<HTMLInputElement>(null);
  const [confirming, setConfirming] = useState(false);
  const [hint, setHint] = useState(false);
  const unregisterTitle = useId();
  const removed = report.registered && report.lastError?.code === 'NODE_CREDENTIAL_REJECTED';
  return (
    <Card title="Backup and restore" className="card--wide" icon={<ShieldIcon size={20} className="muted" />}>
      <p className="muted small">
        A backup holds this node&apos;s registration, settings, data store credentials and certificates with
        their private keys, encrypted with a password you choose (scrypt and AES-256-GCM). Restore it here or
        on a new machine to bring the node back as itself, with the same node ID.
      </p>
      <div className="backup-grid">
        <BackupForm passwordRef={backupPasswordRef} highlight={hint} onDone={() => setHint(false)} />
        <RestoreForm report={report} />
        <section className="subpanel" aria-labelledby={unregisterTitle}>
          <h4 id={unregisterTitle} className="subpanel__title">
            Unregister
          </h4>
          {report.registered ? (
            <>
              {removed ? (
                <Callout tone="warn" title="The control plane removed this node.">
                  <p>
                    Unregister to clear the old registration here, then register again with a current key.
                  </p>
                </Callout>
              ) : null}
              <p className="small">
                Removes <strong>{report.node?.name}</strong> from the integration runtime{' '}
                <strong>{report.ir?.name}</strong> and deletes its registration secrets and the integration
                runtime's data store credentials from this machine. Then the node can register again,
                elsewhere or anew.
              </p>
              <div className="button-row">
                <Button
                  variant="danger"
                  icon={<PlugOffIcon size={16} />}
                  aria-haspopup="dialog"
                  onClick={() => setConfirming(true)}
                >
                  Unregister…
                </Button>
              </div>
            </>
          ) : (
            <p className="small muted">This node is not registered.</p>
          )}
        </section>
      </div>
      {confirming && report.node && report.ir ? (
        <ConfirmUnregister
          nodeName={report.node.name}
          irName={report.ir.name}
          onCancel={() => setConfirming(false)}
          onBackUpFirst={() => {
            setConfirming(false);
            setHint(true);
            // After the dialog gave focus back to its opener.
            setTimeout(() => backupPasswordRef.current?.focus(), 0);
          }}
        />
      ) : null}
    </Card>
  );
}

function BackupForm({
  passwordRef,
  highlight,
  onDone,
}: {
  passwordRef: RefObject<HTMLInputElement | null>;
  highlight: boolean;
  onDone: () => void;
}) {
  const createBackup = useApp((s) => s.createBackup);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const ids = { password: useId(), confirm: useId(), title: useId() };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    if (password.length < MIN_BACKUP_PASSWORD_LENGTH) {
      setError({
        code: 'INVALID_INPUT',
        message: `The backup password must have at least ${MIN_BACKUP_PASSWORD_LENGTH} characters.`,
      });
      passwordRef.current?.focus();
      return;
    }
    if (password !== confirm) {
      setError({
        code: 'INVALID_INPUT',
        message: 'The two passwords are not the same.',
        fix: 'Type it again.',
      });
      return;
    }
    setBusy(true);
    setError(null);
    const outcome = await createBackup(password);
    setBusy(false);
    if (!outcome.ok) {
      setError(outcome.error);
      return;
    }
    downloadBase64(outcome.value.fileName, outcome.value.content);
    setPassword('');
    setConfirm('');
    setDone(
      `Saved ${outcome.value.fileName}: ${outcome.value.contents.files.join(', ')} and ${outcome.value.contents.secrets} secrets, encrypted. Keep the password apart from the file.`,
    );
    onDone();
  };

  return (
    <form
      className={`subpanel subform${highlight ? ' backup-highlight' : ''}`}
      aria-labelledby={ids.title}
      onSubmit={(event) => void onSubmit(event)}
    >
      <h4 id={ids.title} className="subpanel__title">
        Back up
      </h4>
      {highlight ? (
        <p className="small">
          <strong>Back up first:</strong> choose a password, save the file, then unregister.
        </p>
      ) : null}
      <Field
        id={ids.password}
        label="Backup password"
        hint={`At least ${MIN_BACKUP_PASSWORD_LENGTH} characters. Without it the backup cannot be restored.`}
      >
        {(control) => (
          <input
            {...control}
            ref={passwordRef}
            className="input"
            type="password"
            value={password}
            autoComplete="new-password"
            maxLength={1024}
            disabled={busy}
            onChange={(event) => setPassword(event.target.value)}
          />
        )}
      </Field>
      <Field id={ids.confirm} label="Confirm password">
        {(control) => (
          <input
            {...control}
            className="input"
            type="password"
            value={confirm}
            autoComplete="new-password"
            maxLength={1024}
            disabled={busy}
            onChange={(event) => setConfirm(event.target.value)}
          />
        )}
      </Field>
      <ErrorSlot error={error} title="The backup was not made." />
      <DoneLine text={done} />
      <div className="button-row">
        <Button type="submit" variant="primary" icon={<DownloadIcon size={16} />} busy={busy}>
          Back up
        </Button>
      </div>
    </form>
  );
}

function RestoreForm({ report }: { report: StatusReport }) {
  const inspect = useApp((s) => s.inspectBackup);
  const restore = useApp((s) => s.restoreBackup);
  const [file, setFile] = useState<{ content: string; info: BackupInfo } | null>(null);
  const [password, setPassword] = useState('');
  const [replace, setReplace] = useState(false);
  const [busy, setBusy] = useState<'read' | 'restore' | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const ids = { replace: useId(), title: useId() };

  const onFile = async (chosen: File | undefined) => {
    setError(null);
    setDone(null);
    setFile(null);
    if (!chosen) return;
    if (chosen.size > MAX_BACKUP_BYTES) {
      setError({
        code: 'BACKUP_CORRUPT',
        message: `${chosen.name} is too large to be an OpenIR backup.`,
        fix: 'Choose the file saved by Back up or `openir backup`.',
      });
      return;
    }
    setBusy('read');
    try {
      const content = await readAsBase64(chosen);
      const outcome = await inspect(content);
      if (outcome.ok) setFile({ content, info: outcome.value });
      else setError(outcome.error);
    } catch {
      setError({ code: 'NOT_FOUND', message: `${chosen.name} could not be read.` });
    } finally {
      setBusy(null);
    }
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    if (!file) {
      setError({ code: 'INVALID_INPUT', message: 'Choose a backup file first.' });
      fileRef.current?.focus();
      return;
    }
    if (password === '') {
      setError({ code: 'INVALID_INPUT', message: 'Type the password of the backup.' });
      return;
    }
    setBusy('restore');
    setError(null);
    const outcome = await restore({
      content: file.content,
      password,
      ...(replace ? { replace: true } : {}),
    });
    setBusy(null);
    if (!outcome.ok) {
      setError(outcome.error);
      return;
    }
    setPassword('');
    setReplace(false);
    setDone(`Restored ${describeBackup(outcome.value.info)}.`);
  };

  return (
    <form className="subpanel subform" aria-labelledby={ids.title} onSubmit={(event) => void onSubmit(event)}>
      <h4 id={ids.title} className="subpanel__title">
        Restore
      </h4>
      <FileWithPassword
        disabled={busy !== null}
        file={{
          label: 'Backup file',
          accept: '.openir-backup',
          inputRef: fileRef,
          onChoose: (chosen) => void onFile(chosen),
        }}
        between={
          file ? (
            <p className="small">
              Node <strong>{file.info.node?.name ?? '(not registered)'}</strong>
              {file.info.ir ? (
                <>
                  {' '}
                  in <strong>{file.info.ir.name}</strong>
                </>
              ) : null}
              , backed up {formatDateTime(file.info.createdAt)} by OpenIR {file.info.productVersion}.
            </p>
          ) : null
        }
        password={{ label: 'Backup password', value: password, onChange: setPassword }}
      />
      {report.registered ? (
        <label className="checkbox" htmlFor={ids.replace}>
          <input
            id={ids.replace}
            type="checkbox"
            checked={replace}
            disabled={busy !== null}
            onChange={(event) => setReplace(event.target.checked)}
          />
          <span>Replace this node&apos;s registration, settings and secrets</span>
        </label>
      ) : null}
      <ErrorSlot error={error} title="Nothing was restored." />
      <DoneLine text={done} />
      <div className="button-row">
        <Button type="submit" variant="primary" busy={busy === 'restore'} disabled={busy === 'read'}>
          Restore
        </Button>
      </div>
    </form>
  );
}
