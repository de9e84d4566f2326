import { useEffect, useId, type RefObject } from 'react';
import { PLAIN_REMOTE_ACCESS_WARNING, type RemoteAccessMode } from '../../../shared/remoteAccess';
import { Callout, ChoiceGroup, Field } from '../../components/ui';
import { useApp } from '../../store';
import { CertificatePicker, firstUsable } from '../certificates/CertificatePicker';
import {
  REMOTE_ACCESS_MODE_HELP,
  REMOTE_ACCESS_MODE_LABEL,
  type RemoteAccessField,
  type RemoteAccessForm,
  type RemoteAccessProblems,
} from './remoteAccessForm';

/**
 * The remote access choice: the three settings, the port, and for TLS the certificate picker. Used by the
 * remote access dialog and by the Register page.
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
  const certificates = useApp((s) => s.certificates.value?.certificates ?? null);
  const portId = useId();

  // Choosing TLS with nothing chosen yet picks the first usable certificate of the store.
  useEffect(() => {
    if (form.mode !== 'tls' || form.thumbprint || !certificates) return;
    const usable = firstUsable(certificates);
    if (usable) onChange({ thumbprint: usable.thumbprint });
  }, [form.mode, form.thumbprint, certificates, onChange]);

  const register = (field: RemoteAccessField) => (element: HTMLElement | null) => {
    if (!fieldRefs?.current) return;
    if (element) fieldRefs.current.set(field, element);
    else fieldRefs.current.delete(field);
  };

  return (
    <div className="remote-fields">
      <ChoiceGroup
        legend={legend}
        options={modes}
        value={form.mode}
        onChange={(mode) => onChange({ mode })}
        labels={REMOTE_ACCESS_MODE_LABEL}
        help={REMOTE_ACCESS_MODE_HELP}
        disabled={disabled}
        initialFocus={initialFocus}
      />

      {form.mode === 'plain' ? (
        <Callout tone="warn" title="Not recommended">
          <p>{PLAIN_REMOTE_ACCESS_WARNING}</p>
        </Callout>
      ) : null}

      {form.mode !== 'disabled' ? (
        <div className="field-group">
          <Field
            id={portId}
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
            <CertificatePicker
              thumbprint={form.thumbprint}
              onSelect={(thumbprint) => onChange({ thumbprint })}
              problem={problems.certificate}
              disabled={disabled}
              inputRef={register('certificate')}
            />
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
