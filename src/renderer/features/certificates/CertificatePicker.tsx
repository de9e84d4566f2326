import { useEffect, useId, useRef, useState } from 'react';
import type { StoredCertificate } from '../../../shared/certificates';
import { FieldProblem, LoadFailed, Loading } from '../../components/ui';
import { formatDateTime } from '../../format';
import { useApp } from '../../store';
import { AddCertificateButtons, AddCertificatePanel, type AddCertificateWay } from './CertificateForms';
import { CertificateStatus, RequirementCheck } from './Certificates';
import { isUsable, keyText, shortThumbprint, subjectName } from './certificateText';

/**
 * The certificate to serve TLS with: the store's certificates with their problems, Import… and Generate
 * self-signed (a new one is chosen at once), and the requirement check of the chosen one.
 */
export function CertificatePicker({
  thumbprint,
  onSelect,
  problem,
  disabled,
  inputRef,
}: {
  /** The chosen certificate's thumbprint, or ''. */
  thumbprint: string;
  onSelect: (thumbprint: string) => void;
  problem: string | undefined;
  disabled: boolean;
  /** The picker's first stop (the chosen option, else the first), to focus when its problem is shown. */
  inputRef: (element: HTMLElement | null) => void;
}) {
  const { value: list, loadError } = useApp((s) => s.certificates);
  const refresh = useApp((s) => s.refreshCertificates);
  const certificates = list?.certificates ?? null;
  const fqdn = list?.fqdn ?? null;
  const [panel, setPanel] = useState<AddCertificateWay | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const checkRef = useRef<HTMLElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);
  const ids = { cert: useId(), certProblem: useId(), checkHeading: useId(), panel: useId() };

  const selected = certificates?.find((cert) => cert.thumbprint === thumbprint) ?? null;

  // A new certificate is chosen at once; its check is brought into view and announced.
  useEffect(() => {
    if (added && selected?.thumbprint === added) checkRef.current?.scrollIntoView({ block: 'nearest' });
  }, [added, selected]);

  useEffect(() => {
    if (panel) panelRef.current?.scrollIntoView({ block: 'nearest' });
  }, [panel]);

  const onAdded = (cert: StoredCertificate) => {
    setPanel(null);
    setAdded(cert.thumbprint);
    onSelect(cert.thumbprint);
  };

  return (
    <>
      <fieldset
        className="choice-group cert-picker"
        role="radiogroup"
        aria-labelledby={ids.cert}
        aria-describedby={problem ? ids.certProblem : undefined}
        aria-invalid={problem ? true : undefined}
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
              checked={cert.thumbprint === thumbprint}
              // The first option takes the focus of "the field" when nothing is chosen.
              inputRef={cert.thumbprint === thumbprint || (!selected && index === 0) ? inputRef : undefined}
              onSelect={() => onSelect(cert.thumbprint)}
            />
          ))
        )}
      </fieldset>
      <FieldProblem id={ids.certProblem} problem={problem} />

      <AddCertificateButtons
        open={panel}
        onToggle={setPanel}
        panelId={ids.panel}
        importLabel="Import…"
        disabled={disabled}
      />
      {panel ? (
        <AddCertificatePanel
          way={panel}
          id={ids.panel}
          panelRef={panelRef}
          defaultDnsName={fqdn}
          onDone={onAdded}
          onCancel={() => setPanel(null)}
        />
      ) : null}

      <section ref={checkRef} className="check-section" aria-labelledby={ids.checkHeading}>
        <h3 id={ids.checkHeading} className="check-section__title">
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
            <p className="field__hint">Choose a certificate to see whether it meets the requirements.</p>
          )}
        </div>
      </section>
    </>
  );
}

/** The first usable certificate of the store, for a TLS setting with nothing chosen yet. */
export function firstUsable(certificates: readonly StoredCertificate[] | null): StoredCertificate | null {
  return certificates?.find((cert) => isUsable(cert)) ?? null;
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
