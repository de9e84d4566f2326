import { useId, useRef, useState, type KeyboardEvent, type Ref } from 'react';
import type { CertificateInfo, StoredCertificate } from '../../../shared/certificates';
import { OPERATIONS } from '../../../shared/contract';
import { Button, ErrorSlot, Field, FileWithPassword } from '../../components/ui';
import type { UiError } from '../../errors';
import { readAsBase64 } from '../../files';
import { useApp } from '../../store';
import { CertificateFacts, CertificateStatus, RequirementCheck } from './Certificates';

/**
 * The two ways to add a certificate: import a file, generate a self-signed one. Used by the Certificates
 * card and by the certificate picker of remote access (dialog and Register page).
 */

/** Enter in a text or password field (not a button, select or checkbox) submits. */
function submitsOnEnter(event: KeyboardEvent<HTMLElement>): boolean {
  const target = event.target;
  return (
    event.key === 'Enter' &&
    target instanceof HTMLInputElement &&
    (target.type === 'text' || target.type === 'password')
  );
}

const MAX_FILE_BYTES = 512 * 1024;

const fileError = (message: string, fix?: string): UiError => ({
  code: 'INVALID_INPUT',
  message,
  ...(fix ? { fix } : {}),
});

/**
 * Import a PFX/PKCS#12 or PEM file: read it here, check it (Check certificate) and show its problems, then
 * import it. The password goes to the host with the file and is kept nowhere.
 */
export function ImportCertificateForm({
  onDone,
  onCancel,
}: {
  onDone: (cert: StoredCertificate) => void;
  onCancel: () => void;
}) {
  const inspect = useApp((s) => s.inspectCertificate);
  const importCertificate = useApp((s) => s.importCertificate);
  const [file, setFile] = useState<{ name: string; content: string } | null>(null);
  const [password, setPassword] = useState('');
  const [trust, setTrust] = useState(false);
  const [busy, setBusy] = useState<'read' | 'inspect' | 'import' | null>(null);
  const [checked, setChecked] = useState<CertificateInfo | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const trustId = useId();

  const reset = () => {
    setChecked(null);
    setError(null);
  };

  const onFile = async (chosen: File | undefined) => {
    reset();
    if (!chosen) {
      setFile(null);
      return;
    }
    if (chosen.size > MAX_FILE_BYTES) {
      setFile(null);
      setError(fileError(`${chosen.name} is larger than 512 KiB: that is not a certificate file.`));
      return;
    }
    setBusy('read');
    try {
      setFile({ name: chosen.name, content: await readAsBase64(chosen) });
    } catch {
      setFile(null);
      setError(fileError(`${chosen.name} could not be read.`, 'Check that the file exists and is readable.'));
    } finally {
      setBusy(null);
    }
  };

  const input = () => (file ? { content: file.content, ...(password !== '' ? { password } : {}) } : null);

  const onCheck = async () => {
    const request = input();
    if (!request) {
      setError(fileError('Choose a certificate file first.'));
      fileRef.current?.focus();
      return;
    }
    setBusy('inspect');
    reset();
    const outcome = await inspect(request);
    setBusy(null);
    if (outcome.ok) setChecked(outcome.value);
    else setError(outcome.error);
  };

  const onImport = async () => {
    const request = input();
    if (!request) return;
    setBusy('import');
    setError(null);
    const outcome = await importCertificate({ ...request, ...(trust ? { trust: true } : {}) });
    setBusy(null);
    if (outcome.ok) onDone(outcome.value);
    else setError(outcome.error);
  };

  const unreadable = checked?.problems.some((p) => p.code === 'BAD_PASSWORD' || p.code === 'UNREADABLE');

  return (
    // Not a <form>: it also sits inside the Register form and the remote access dialog. Enter in a field
    // runs the main action, as a form would.
    <div
      className="subform"
      role="group"
      aria-label="Import certificate"
      onKeyDown={(event) => {
        if (submitsOnEnter(event)) {
          event.preventDefault();
          if (checked && !unreadable) void onImport();
          else void onCheck();
        }
      }}
    >
      <FileWithPassword
        disabled={busy !== null}
        file={{
          label: 'Certificate file',
          hint: (
            <>
              PFX/PKCS#12 (.pfx, .p12) with its password, or PEM (.pem, .crt, .cer) with the certificate and,
              to serve TLS, its private key. The private key goes to this machine&apos;s secret store.
            </>
          ),
          accept: '.pfx,.p12,.pem,.crt,.cer',
          inputRef: fileRef,
          onChoose: (chosen) => void onFile(chosen),
        }}
        password={{
          label: 'Password (PFX or encrypted key)',
          hint: 'Leave it empty for a file without a password. It is used once and never stored.',
          value: password,
          onChange: (value) => {
            setPassword(value);
            reset();
          },
        }}
      />
      <label className="checkbox" htmlFor={trustId}>
        <input
          id={trustId}
          type="checkbox"
          checked={trust}
          disabled={busy !== null}
          onChange={(event) => setTrust(event.target.checked)}
        />
        <span>Trust it on this node (another node&apos;s self-signed certificate)</span>
      </label>

      {checked ? (
        <section className="cert-result" aria-label="Checked certificate">
          <p className="cert-result__title">
            <strong className="break">{checked.subject || '(no subject)'}</strong>
          </p>
          <CertificateStatus cert={checked} />
          <CertificateFacts cert={checked} />
          <RequirementCheck cert={checked} />
        </section>
      ) : null}

      <ErrorSlot error={error} title="The certificate could not be read or imported." />

      <div className="button-row">
        {checked && !unreadable ? (
          <Button variant="primary" busy={busy === 'import'} onClick={() => void onImport()}>
            Import
          </Button>
        ) : (
          <Button
            variant="primary"
            busy={busy === 'inspect'}
            disabled={busy !== null}
            onClick={() => void onCheck()}
          >
            Check certificate
          </Button>
        )}
        <Button onClick={onCancel} disabled={busy === 'import'}>
          Cancel
        </Button>
      </div>
    </div>
  );
}

const CreateInput = OPERATIONS.createSelfSignedCertificate.input;

/** Generate a self-signed server certificate for a list of DNS names (default: this node's FQDN). */
export function GenerateCertificateForm({
  defaultDnsName,
  onDone,
  onCancel,
}: {
  defaultDnsName: string | null;
  onDone: (cert: StoredCertificate) => void;
  onCancel: () => void;
}) {
  const create = useApp((s) => s.createSelfSignedCertificate);
  const [names, setNames] = useState(defaultDnsName ?? '');
  const [days, setDays] = useState('365');
  const [key, setKey] = useState<'rsa2048' | 'p256'>('rsa2048');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<{ field: 'names' | 'days'; message: string } | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const namesRef = useRef<HTMLInputElement>(null);
  const daysRef = useRef<HTMLInputElement>(null);
  const ids = { names: useId(), days: useId(), key: useId() };

  const onSubmit = async () => {
    if (busy) return;
    const dnsNames = names
      .split(/[\s,;]+/)
      .map((name) => name.trim())
      .filter(Boolean);
    const dayCount = /^\d+$/.test(days.trim()) ? Number(days.trim()) : Number.NaN;
    const parsed = CreateInput.safeParse({
      ...(dnsNames.length > 0 ? { dnsNames } : {}),
      days: dayCount,
      key,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path[0] === 'days' ? 'days' : 'names';
      const message =
        field === 'days'
          ? 'Enter a number of days from 1 to 3650.'
          : (issue?.message ?? 'Enter DNS names separated by commas.');
      setProblem({ field, message });
      (field === 'days' ? daysRef : namesRef).current?.focus();
      return;
    }
    setProblem(null);
    setError(null);
    setBusy(true);
    const outcome = await create(parsed.data);
    setBusy(false);
    if (outcome.ok) onDone(outcome.value);
    else setError(outcome.error);
  };

  const problemFor = (field: 'names' | 'days') => (problem?.field === field ? problem.message : null);

  return (
    <div
      className="subform"
      role="group"
      aria-label="Generate a self-signed certificate"
      onKeyDown={(event) => {
        if (submitsOnEnter(event)) {
          event.preventDefault();
          void onSubmit();
        }
      }}
    >
      <Field
        id={ids.names}
        label="DNS names"
        hint={`Separated by commas. The Subject Alternative Names must include this machine's FQDN${defaultDnsName ? ` (${defaultDnsName})` : ''} and, for one certificate on every node, the other nodes' FQDNs. No wildcards.`}
        problem={problemFor('names')}
      >
        {(control) => (
          <input
            {...control}
            ref={namesRef}
            className="input input--mono"
            type="text"
            value={names}
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            disabled={busy}
            onChange={(event) => setNames(event.target.value)}
          />
        )}
      </Field>
      <div className="subform__row">
        <Field id={ids.days} label="Valid for (days)" className="field--port" problem={problemFor('days')}>
          {(control) => (
            <input
              {...control}
              ref={daysRef}
              className="input"
              type="text"
              inputMode="numeric"
              value={days}
              maxLength={4}
              autoComplete="off"
              disabled={busy}
              onChange={(event) => setDays(event.target.value)}
            />
          )}
        </Field>
        <Field id={ids.key} label="Key type">
          {(control) => (
            <select
              {...control}
              className="select"
              value={key}
              disabled={busy}
              onChange={(event) => setKey(event.target.value === 'p256' ? 'p256' : 'rsa2048')}
            >
              <option value="rsa2048">RSA 2048</option>
              <option value="p256">EC P-256</option>
            </select>
          )}
        </Field>
      </div>
      <ErrorSlot error={error} title="The certificate could not be generated." />
      <div className="button-row">
        <Button variant="primary" busy={busy} onClick={() => void onSubmit()}>
          {busy ? 'Generating…' : 'Generate certificate'}
        </Button>
        <Button onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
      </div>
    </div>
  );
}

export type AddCertificateWay = 'import' | 'generate';

/** The two buttons that open (and close) a way to add a certificate, with what they control. */
export function AddCertificateButtons({
  open,
  onToggle,
  panelId,
  importLabel,
  disabled,
}: {
  open: AddCertificateWay | null;
  onToggle: (way: AddCertificateWay | null) => void;
  panelId: string;
  importLabel: string;
  disabled?: boolean;
}) {
  const button = (way: AddCertificateWay, label: string) => (
    <Button
      aria-expanded={open === way}
      aria-controls={open === way ? panelId : undefined}
      disabled={disabled}
      onClick={() => onToggle(open === way ? null : way)}
    >
      {label}
    </Button>
  );
  return (
    <div className="button-row">
      {button('import', importLabel)}
      {button('generate', 'Generate self-signed')}
    </div>
  );
}

/** The open way to add a certificate, titled, as a panel below its buttons. */
export function AddCertificatePanel({
  way,
  id,
  panelRef,
  defaultDnsName,
  onDone,
  onCancel,
}: {
  way: AddCertificateWay;
  id: string;
  panelRef?: Ref<HTMLDivElement>;
  defaultDnsName: string | null;
  onDone: (cert: StoredCertificate) => void;
  onCancel: () => void;
}) {
  return (
    <div id={id} ref={panelRef} className="subpanel">
      <h4 className="subpanel__title">
        {way === 'import' ? 'Import a certificate' : 'Generate a self-signed certificate'}
      </h4>
      {way === 'import' ? (
        <ImportCertificateForm onDone={onDone} onCancel={onCancel} />
      ) : (
        <GenerateCertificateForm defaultDnsName={defaultDnsName} onDone={onDone} onCancel={onCancel} />
      )}
    </div>
  );
}
