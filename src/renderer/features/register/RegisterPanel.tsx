import { useCallback, useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { parseAuthKey, type AuthKey } from '../../../shared/authKey';
import { NodeNameSchema } from '../../../shared/controlPlaneApi';
import { DEFAULT_REMOTE_ACCESS_PORT } from '../../../shared/remoteAccess';
import { KeyIcon, PlayIcon } from '../../components/Icons';
import { Button, Callout, Code, ErrorDetails, Field } from '../../components/ui';
import { toUiError, type UiError } from '../../errors';
import { useApp } from '../../store';
import { ProxyDialog } from '../proxy/ProxyDialog';
import { ProxyLine } from '../proxy/ProxyLine';
import { RemoteAccessFields } from '../remote-access/RemoteAccessFields';
import {
  checkRemoteAccessForm,
  settingsFromForm,
  type RemoteAccessField,
  type RemoteAccessForm,
} from '../remote-access/remoteAccessForm';

/** The reference product's words, so administrators recognise the failure. */
export const REGISTRATION_FAILED_MESSAGE =
  'Failed to register this Integration Runtime node! Confirm that the Authentication key is valid and the Integration Runtime Host Service is running on this machine.';

/** Typing pauses longer than this count as "done typing" for showing what is wrong with the key. */
const SETTLE_MS = 700;

type KeyCheck = { state: 'empty' } | { state: 'valid'; key: AuthKey } | { state: 'invalid'; error: UiError };

function checkKey(raw: string): KeyCheck {
  if (raw.trim() === '') return { state: 'empty' };
  try {
    return { state: 'valid', key: parseAuthKey(raw) };
  } catch (error) {
    return { state: 'invalid', error: toUiError(error) };
  }
}

function checkNodeName(raw: string): string | null {
  if (raw.trim() === '') return null;
  const result = NodeNameSchema.safeParse(raw.trim());
  return result.success ? null : (result.error.issues[0]?.message ?? 'The node name is not valid.');
}

export function RegisterPanel() {
  const report = useApp((s) => s.report);
  const registering = useApp((s) => s.registering);
  const registerError = useApp((s) => s.registerError);
  const register = useApp((s) => s.register);
  const clearRegisterError = useApp((s) => s.clearRegisterError);
  const openTroubleshoot = useApp((s) => s.openTroubleshoot);

  const [authKey, setAuthKey] = useState('');
  const [showKey, setShowKey] = useState(false);
  const [nodeName, setNodeName] = useState('');
  // Problems are shown once the user pasted, paused typing or left the field; not on every keystroke.
  const [keySettled, setKeySettled] = useState(false);
  const [nameSettled, setNameSettled] = useState(false);
  const pasted = useRef(false);
  const alertRef = useRef<HTMLDivElement>(null);
  const proxyOpenerRef = useRef<HTMLButtonElement>(null);

  const certificates = useApp((s) => s.certificates.value?.certificates ?? null);
  const [remoteEnabled, setRemoteEnabled] = useState(false);
  const [remoteForm, setRemoteForm] = useState<RemoteAccessForm>({
    mode: 'tls',
    port: String(DEFAULT_REMOTE_ACCESS_PORT),
    thumbprint: '',
  });
  const [remoteAttempted, setRemoteAttempted] = useState(false);
  const remoteRefs = useRef(new Map<RemoteAccessField, HTMLElement>());
  const remoteProblems = useMemo(
    () => checkRemoteAccessForm(remoteForm, certificates),
    [remoteForm, certificates],
  );
  const updateRemote = useCallback((patch: Partial<RemoteAccessForm>) => {
    setRemoteForm((current) => ({ ...current, ...patch }));
  }, []);

  const keyCheck = useMemo(() => checkKey(authKey), [authKey]);
  const nameProblem = useMemo(() => checkNodeName(nodeName), [nodeName]);

  useEffect(() => {
    if (pasted.current) {
      pasted.current = false;
      setKeySettled(true);
      return;
    }
    setKeySettled(false);
    const timer = setTimeout(() => setKeySettled(true), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [authKey]);

  // The failure is announced by role="alert"; also bring it into view, it sits below the button.
  useEffect(() => {
    if (registerError) alertRef.current?.scrollIntoView({ block: 'nearest' });
  }, [registerError]);

  useEffect(() => {
    setNameSettled(false);
    const timer = setTimeout(() => setNameSettled(true), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [nodeName]);

  const ids = {
    key: useId(),
    keyHint: useId(),
    keyProblem: useId(),
    keyInfo: useId(),
    name: useId(),
    show: useId(),
    heading: useId(),
    remote: useId(),
    remoteHint: useId(),
  };

  const serviceStopped = report !== null && !report.serviceRunning && !registering;
  const busy = registering || report?.status === 'Registering';
  const showKeyProblem = keyCheck.state === 'invalid' && keySettled;
  const showNameProblem = nameProblem !== null && nameSettled;

  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setKeySettled(true);
    setNameSettled(true);
    let remoteAccess;
    if (remoteEnabled) {
      setRemoteAttempted(true);
      const first = (['port', 'certificate'] as const).find((field) => remoteProblems[field]);
      if (first) {
        remoteRefs.current.get(first)?.focus();
        return;
      }
      remoteAccess = settingsFromForm(remoteForm) ?? undefined;
    }
    void register({ authKey, nodeName, remoteAccess });
  };

  const remoteShown = {
    ...(remoteAttempted && remoteProblems.port ? { port: remoteProblems.port } : {}),
    ...(remoteProblems.certificate && (remoteAttempted || remoteForm.thumbprint)
      ? { certificate: remoteProblems.certificate }
      : {}),
  };

  return (
    <div className="page page--narrow">
      <section className="card card--hero" aria-labelledby={ids.heading}>
        <div className="register__intro">
          <span className="register__icon" aria-hidden="true">
            <KeyIcon size={28} />
          </span>
          <div>
            <h2 id={ids.heading} className="page__title">
              Register this node
            </h2>
            <p className="muted">
              Paste the authentication key of the integration runtime this machine should join. An
              administrator of the control plane finds it with{' '}
              <code className="inline-code">openir-control-plane ir keys &lt;name&gt;</code>.
            </p>
          </div>
        </div>

        {serviceStopped ? <ServiceStoppedNotice /> : null}

        <form className="form" onSubmit={onSubmit} noValidate aria-labelledby={ids.heading}>
          <div className="field">
            <label htmlFor={ids.key} className="field__label">
              Authentication key
            </label>
            <input
              id={ids.key}
              className="input input--mono"
              type={showKey ? 'text' : 'password'}
              value={authKey}
              onChange={(event) => {
                setAuthKey(event.target.value);
                if (registerError) clearRegisterError();
              }}
              onPaste={() => {
                pasted.current = true;
              }}
              onBlur={() => setKeySettled(true)}
              autoComplete="off"
              autoCapitalize="off"
              autoCorrect="off"
              spellCheck={false}
              autoFocus
              disabled={busy}
              aria-invalid={showKeyProblem || undefined}
              aria-describedby={[
                ids.keyHint,
                showKeyProblem ? ids.keyProblem : null,
                keyCheck.state === 'valid' ? ids.keyInfo : null,
              ]
                .filter(Boolean)
                .join(' ')}
            />
            <p id={ids.keyHint} className="field__hint">
              It starts with <code className="inline-code">IR@</code> and names the integration runtime, its
              control plane and a secret.
            </p>
            {showKeyProblem && keyCheck.state === 'invalid' ? (
              <p id={ids.keyProblem} className="field__problem">
                <span className="field__problem-label">Problem: </span>
                {keyCheck.error.message}
                {keyCheck.error.fix ? (
                  <>
                    {' '}
                    <Code text={keyCheck.error.fix} />
                  </>
                ) : null}
              </p>
            ) : null}
            <label className="checkbox" htmlFor={ids.show}>
              <input
                id={ids.show}
                type="checkbox"
                checked={showKey}
                onChange={(event) => setShowKey(event.target.checked)}
              />
              <span>Show authentication key</span>
            </label>
          </div>

          {keyCheck.state === 'valid' ? <KeySummary id={ids.keyInfo} authKey={keyCheck.key} /> : null}

          <ProxyLine
            // Only where the key points (endpoint and pin) goes to the dialog's test, never its secret.
            target={
              keyCheck.state === 'valid' ? { endpoint: keyCheck.key.endpoint, pin: keyCheck.key.pin } : null
            }
            disabled={busy}
            openerRef={proxyOpenerRef}
          />

          <Field
            id={ids.name}
            label="Node name (optional)"
            hint="How this machine appears in the integration runtime. Leave it empty to use this machine's host name."
            problem={showNameProblem ? nameProblem : null}
          >
            {(control) => (
              <input
                {...control}
                className="input"
                type="text"
                value={nodeName}
                onChange={(event) => {
                  setNodeName(event.target.value);
                  if (registerError) clearRegisterError();
                }}
                onBlur={() => setNameSettled(true)}
                autoComplete="off"
                spellCheck={false}
                maxLength={63}
                disabled={busy}
              />
            )}
          </Field>

          <div className="field">
            <label className="checkbox" htmlFor={ids.remote}>
              <input
                id={ids.remote}
                type="checkbox"
                checked={remoteEnabled}
                disabled={busy}
                aria-describedby={ids.remoteHint}
                onChange={(event) => {
                  setRemoteEnabled(event.target.checked);
                  if (registerError) clearRegisterError();
                }}
              />
              <span>Enable remote access from intranet</span>
            </label>
            <p id={ids.remoteHint} className="field__hint">
              Needed before a second node can join this integration runtime: peers use it for credential sync
              and health. You can also set it later in Settings.
            </p>
          </div>
          {remoteEnabled ? (
            <RemoteAccessFields
              form={remoteForm}
              onChange={updateRemote}
              problems={remoteShown}
              disabled={busy}
              modes={['plain', 'tls']}
              legend="Remote access setting"
              fieldRefs={remoteRefs}
            />
          ) : null}

          <div className="form__actions">
            <Button type="submit" variant="primary" busy={busy}>
              {busy ? 'Registering…' : 'Register'}
            </Button>
            {busy ? (
              <p className="muted" role="status">
                Contacting the control plane
                {keyCheck.state === 'valid' ? ` at ${keyCheck.key.endpoint}` : ''}, checking its TLS pin and
                registering this node. This can take a few seconds.
              </p>
            ) : null}
          </div>

          <div role="alert" className="alert-slot" ref={alertRef}>
            {registerError && !busy ? (
              <Callout tone="error" title={REGISTRATION_FAILED_MESSAGE}>
                <ErrorDetails error={registerError} />
                <div className="callout__actions">
                  <Button
                    onClick={() =>
                      openTroubleshoot(
                        keyCheck.state === 'valid'
                          ? { endpoint: keyCheck.key.endpoint, pin: keyCheck.key.pin }
                          : undefined,
                      )
                    }
                  >
                    Troubleshoot this connection
                  </Button>
                </div>
              </Callout>
            ) : null}
          </div>
        </form>
      </section>
      <ProxyDialog returnFocus={proxyOpenerRef} />
    </div>
  );
}

/** What the pasted key points to, so the administrator sees it is the right one; never the secret. */
function KeySummary({ id, authKey }: { id: string; authKey: AuthKey }) {
  return (
    <div id={id} className="key-summary">
      <p className="key-summary__title">This key joins:</p>
      <dl className="facts facts--compact">
        <div className="facts__row">
          <dt>Integration runtime</dt>
          <dd>
            <strong>{authKey.irName}</strong> <span className="muted">({authKey.irId})</span>
          </dd>
        </div>
        <div className="facts__row">
          <dt>Control plane</dt>
          <dd className="mono">{authKey.endpoint}</dd>
        </div>
        <div className="facts__row">
          <dt>TLS pin (SHA-256)</dt>
          <dd className="mono" title={authKey.pin}>
            {authKey.pin.slice(0, 12)}…
          </dd>
        </div>
      </dl>
    </div>
  );
}

function ServiceStoppedNotice() {
  const serviceAction = useApp((s) => s.serviceAction);
  const serviceError = useApp((s) => s.serviceError);
  const runServiceAction = useApp((s) => s.runServiceAction);
  return (
    <div className="stack">
      <Callout tone="warn" title="The Integration Runtime Host Service is stopped on this machine.">
        <p>Registration needs it running. Start it, then register.</p>
        <div className="callout__actions">
          <Button
            variant="primary"
            icon={<PlayIcon size={18} />}
            busy={serviceAction === 'startService'}
            onClick={() => void runServiceAction('startService')}
          >
            Start service
          </Button>
        </div>
      </Callout>
      {serviceError ? (
        <Callout tone="error" role="alert" title="The service could not be started.">
          <ErrorDetails error={serviceError} />
        </Callout>
      ) : null}
    </div>
  );
}
