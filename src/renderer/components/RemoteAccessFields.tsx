import { useEffect, useId, useRef, useState, type RefObject } from 'react';
import type { StoredCertificate } from '../../shared/certificates';
import { PLAIN_REMOTE_ACCESS_WARNING, type RemoteAccessMode } from '../../shared/remoteAccess';
import { formatDateTime } from '../format';
import {
  isUsable,
  keyText,
  REMOTE_ACCESS_MODE_HELP,
  REMOTE_ACCESS_MODE_LABEL,
  shortThumbprint,
  subjectName,
  type RemoteAccessField,
  type RemoteAccessForm,
  type RemoteAccessProblems,
} from '../remoteAccessForm';
import { useApp } from '../store';
import {
  CertificateStatus,
  GenerateCertificateForm,
  ImportCertificateForm,
  RequirementCheck,
} from './Certificates';
import { Button, Callout, Field, FieldProblem, LoadFailed, Loading } from './ui';

/**
 * The remote access choice: the three settings, the port, and for TLS the certificate picker (the store's
 * certificates with their problems, Import…, Generate self-signed) with the requirement check of the chosen
 * one. Used by the remote access dialog and by the Register page.
 */
export function RemoteAccessFields({
  form,
  onChange,
  problems,
  disabled = false,
  modes,
  legend,
  fieldRefs,
  initialFocus,
}: {
  form: RemoteAccessForm;
  onChange: (patch: Partial<RemoteAccessForm>) => void;
  /** The problems to show now (the caller decides when a field's problem is shown). */
  problems: RemoteAccessProblems;
  disabled?: boolean;
  modes: readonly RemoteAccessMode[];
  legend: string;
  /** Filled with the port input and the certificate picker's first stop, to focus the first problem. */
  fieldRefs?: RefObject<Map<RemoteAccessField, HTMLElement>>;
  /** Set to the checked option as it mounts. */
  initialFocus?: RefObject<HTMLInputElement | null>;
}) {
  const certificates = useApp((s) => s.certificates);
  const fqdn = useApp((s) => s.certificateFqdn);
  const loadError = useApp((s) => s.certificatesLoadError);
  const refresh = useApp((s) => s.refreshCertificates);
  const [panel, setPanel] = useState<'import' | 'generate' | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const checkRef = useRef<HTMLElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);

  const ids = {
    mode: useId(),
    port: useId(),
    cert: useId(),
    certProblem: useId(),
    checkHeading: useId(),
    panel: useId(),
  };

  const selected = certificates?.find((cert) => cert.thumbprint === form.thumbprint) ?? null;

  // Choosing TLS with nothing chosen yet picks the first usable certificate of the store.
  useEffect(() => {
    if (form.mode !== 'tls' || form.thumbprint || !certificates) return;
    const usable = certificates.find((cert) => isUsable(cert));
    if (usable) onChange({ thumbprint: usable.thumbprint });
  }, [form.mode, form.thumbprint, certificates, onChange]);

  // A new certificate is chosen at once; its check is brought into view and announced.
  useEffect(() => {
    if (added && selected?.thumbprint === added) checkRef.current?.scrollIntoView({ block: 'nearest' });
  }, [added, selected]);

  useEffect(() => {
    if (panel) panelRef.current?.scrollIntoView({ block: 'nearest' });
  }, [panel]);

  const register = (field: RemoteAccessField) => (element: HTMLElement | null) => {
    if (!fieldRefs?.current) return;
    if (element) fieldRefs.current.set(field, element);
    else fieldRefs.current.delete(field);
  };

  const onAdded = (cert: StoredCertificate) => {
    setPanel(null);
    setAdded(cert.thumbprint);
    onChange({ thumbprint: cert.thumbprint });
  };

  return (
    <div className="remote-fields">
      <fieldset className="choice-group" role="radiogroup" aria-labelledby={ids.mode} disabled={disabled}>
        <legend id={ids.mode} className="field__label">
          {legend}
        </legend>
        {modes.map((mode) => {
          const id = `${ids.mode}-${mode}`;
          return (
            <div key={mode} className={`choice${form.mode === mode ? ' choice--selected' : ''}`}>
              <input
                id={id}
                ref={(element) => {
                  if (initialFocus && element && mode === form.mode && !initialFocus.current)
                    initialFocus.current = element;
                }}
                type="radio"
                name={ids.mode}
                value={mode}
                checked={form.mode === mode}
                onChange={() => onChange({ mode })}
                aria-describedby={`${id}-help`}
              />
              <div className="choice__text">
                <label htmlFor={id} className="choice__label">
                  {REMOTE_ACCESS_MODE_LABEL[mode]}
                </label>
                <p id={`${id}-help`} className="field__hint">
                  {REMOTE_ACCESS_MODE_HELP[mode]}
                </p>
              </div>
            </div>
          );
        })}
      </fieldset>

      {form.mode === 'plain' ? (
        <Callout tone="warn" title="Not recommended">
          <p>{PLAIN_REMOTE_ACCESS_WARNING}</p>
        </Callout>
      ) : null}

      {form.mode !== 'disabled' ? (
        <div className="proxy-fields">
          <Field
            id={ids.port}
            label="Port"
            className="field--port"
            hint="The TCP port other nodes and intranet clients connect to (8060 by default). Allow it through this machine's firewall for them."
            problem={problems.port}
          >
            {(control) => (
              <input
                {...control}
                ref={register('port')}
                className="input"
                type="text"
                inputMode="numeric"
                value={form.port}
                onChange={(event) => onChange({ port: event.target.value })}
                autoComplete="off"
                maxLength={5}
                disabled={disabled}
              />
            )}
          </Field>

          {form.mode === 'tls' ? (
            <>
              <fieldset
                className="choice-group cert-picker"
                role="radiogroup"
                aria-labelledby={ids.cert}
                aria-describedby={problems.certificate ? ids.certProblem : undefined}
                aria-invalid={problems.certificate ? true : undefined}
                disabled={disabled}
              >
                <legend id={ids.cert} className="field__label">
                  Certificate
                </legend>
                {certificates === null ? (
                  loadError ? (
                    <LoadFailed
                      title="The certificate store could not be read."
                      error={loadError}
                      onRetry={() => void refresh()}
                    />
                  ) : (
                    <Loading text="Loading the certificate store…" />
                  )
                ) : certificates.length === 0 ? (
                  <p className="muted cert-picker__empty">
                    This node&apos;s certificate store is empty. Import a certificate with its private key, or
                    generate a self-signed one.
                  </p>
                ) : (
                  certificates.map((cert, index) => (
                    <CertificateChoice
                      key={cert.thumbprint}
                      cert={cert}
                      name={ids.cert}
                      checked={cert.thumbprint === form.thumbprint}
                      // The first option takes the focus of "the field" when nothing is chosen.
                      inputRef={
                        cert.thumbprint === form.thumbprint || (!selected && index === 0)
                          ? register('certificate')
                          : undefined
                      }
                      onSelect={() => onChange({ thumbprint: cert.thumbprint })}
                    />
                  ))
                )}
              </fieldset>
              <FieldProblem id={ids.certProblem} problem={problems.certificate} />

              <div className="button-row">
                <Button
                  aria-expanded={panel === 'import'}
                  aria-controls={panel === 'import' ? ids.panel : undefined}
                  disabled={disabled}
                  onClick={() => setPanel(panel === 'import' ? null : 'import')}
                >
                  Import…
                </Button>
                <Button
                  aria-expanded={panel === 'generate'}
                  aria-controls={panel === 'generate' ? ids.panel : undefined}
                  disabled={disabled}
                  onClick={() => setPanel(panel === 'generate' ? null : 'generate')}
                >
                  Generate self-signed
                </Button>
              </div>
              {panel ? (
                <div id={ids.panel} ref={panelRef} className="cert-panel">
                  <h4 className="cert-panel__title">
                    {panel === 'import' ? 'Import a certificate' : 'Generate a self-signed certificate'}
                  </h4>
                  {panel === 'import' ? (
                    <ImportCertificateForm onDone={onAdded} onCancel={() => setPanel(null)} />
                  ) : (
                    <GenerateCertificateForm
                      defaultDnsName={fqdn}
                      onDone={onAdded}
                      onCancel={() => setPanel(null)}
                    />
                  )}
                </div>
              ) : null}

              <section ref={checkRef} className="proxy-test" aria-labelledby={ids.checkHeading}>
                <h3 id={ids.checkHeading} className="proxy-test__title">
                  Requirement check
                </h3>
                <div role="status">
                  {selected ? (
                    <>
                      <p className="field__hint">
                        {added === selected.thumbprint ? 'Added to the store and chosen: ' : ''}
                        <span className="break">{selected.subject || '(no subject)'}</span>, checked for{' '}
                        <span className="mono break">{fqdn ?? 'this machine'}</span>.
                      </p>
                      <RequirementCheck cert={selected} />
                    </>
                  ) : (
                    <p className="field__hint">
                      Choose a certificate to see whether it meets the requirements.
                    </p>
                  )}
                </div>
              </section>
            </>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

function CertificateChoice({
  cert,
  name,
  checked,
  inputRef,
  onSelect,
}: {
  cert: StoredCertificate;
  name: string;
  checked: boolean;
  inputRef: ((element: HTMLElement | null) => void) | undefined;
  onSelect: () => void;
}) {
  const id = useId();
  const usable = isUsable(cert);
  return (
    <div
      className={`choice cert-choice${checked ? ' choice--selected' : ''}${usable ? '' : ' cert-choice--bad'}`}
    >
      <input
        id={id}
        ref={inputRef}
        type="radio"
        name={name}
        value={cert.thumbprint}
        checked={checked}
        onChange={onSelect}
        aria-describedby={`${id}-details`}
      />
      <div className="choice__text">
        <label htmlFor={id} className="choice__label break">
          {subjectName(cert.subject)}
          <span className="cert-choice__thumb mono" title={cert.thumbprint}>
            {' '}
            · {shortThumbprint(cert.thumbprint)}
          </span>
        </label>
        <div id={`${id}-details`} className="cert-choice__details">
          <p className="field__hint break">
            {cert.san.length > 0 ? `Names: ${cert.san.join(', ')}` : 'No Subject Alternative Names'} · expires{' '}
            {formatDateTime(cert.notAfter)} · {keyText(cert.key)}
            {cert.hasPrivateKey ? '' : ' · no private key'}
          </p>
          <CertificateStatus cert={cert} />
        </div>
      </div>
    </div>
  );
}
