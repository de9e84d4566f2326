import { useEffect, useId, useMemo, useRef, useState, type FormEvent, type RefObject } from 'react';
import { PROXY_MODES, type ProxyMode, type ProxyView } from '../../../shared/proxy';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { CheckSection } from '../../components/CheckSection';
import { RestartIcon } from '../../components/Icons';
import { Modal } from '../../components/Modal';
import { Button, ChoiceGroup, DialogProgress, ErrorSlot, Field, useSaveFocus } from '../../components/ui';
import { useApp } from '../../store';
import {
  checkProxyForm,
  formFromView,
  inputFromForm,
  PROXY_MODE_LABEL,
  routeText,
  SYSTEM_PROXY_HELP,
  type ProxyField,
  type ProxyForm,
} from './proxyForm';
import { PROXY_TEST_NEEDS_KEY, PROXY_TEST_NOT_REGISTERED, type ProxyDialogContext } from './proxySlice';

export const CONFIRM_RESTART_MESSAGE =
  'Saving restarts the Integration Runtime Host Service. Running jobs are interrupted and the node reconnects through the new proxy. Continue?';

const MODE_HELP: Record<ProxyMode, string> = {
  none: 'Connect to the control plane directly.',
  system: SYSTEM_PROXY_HELP,
  custom: 'An HTTP proxy that supports CONNECT. Every connection to the control plane goes through it.',
};

const FIELDS: ProxyField[] = ['address', 'port', 'user', 'password'];

/** Typing pauses longer than this count as "done typing" for showing what is wrong (as on Register). */
const SETTLE_MS = 700;

/**
 * The HTTP proxy dialog, open while the store's `proxyDialog` is; rendered by the page it opens from, with
 * that page's Change button to give focus back to.
 */
export function ProxyDialog({ returnFocus }: { returnFocus: RefObject<HTMLElement | null> }) {
  const context = useApp((s) => s.proxyDialog.open);
  const view = useApp((s) => s.proxy.value);
  if (!context || !view) return null;
  // Mounted afresh on every opening, so the form starts from the saved setting.
  return <ProxyDialogContent context={context} view={view} returnFocus={returnFocus} />;
}

function ProxyDialogContent({
  context,
  view,
  returnFocus,
}: {
  context: ProxyDialogContext;
  view: ProxyView;
  returnFocus: RefObject<HTMLElement | null>;
}) {
  const report = useApp((s) => s.report);
  const { testing, report: test, error: testError } = useApp((s) => s.proxyTest);
  const { saving, saveError } = useApp((s) => s.proxyDialog);
  const close = useApp((s) => s.closeProxyDialog);
  const runTest = useApp((s) => s.testProxy);
  const clearTest = useApp((s) => s.clearProxyTest);
  const save = useApp((s) => s.saveProxy);

  const [form, setForm] = useState<ProxyForm>(() => formFromView(view));
  // As on the Register page: a field's problem shows once the user paused typing in it or left it, or
  // tried Test or Save; not on every keystroke.
  const [settled, setSettled] = useState<Partial<Record<ProxyField, boolean>>>({});
  const settleTimers = useRef(new Map<ProxyField, ReturnType<typeof setTimeout>>());
  const [attempted, setAttempted] = useState(false);
  const [confirming, setConfirming] = useState(false);

  const problems = useMemo(() => checkProxyForm(form), [form]);
  const shown = (field: ProxyField) => (attempted || settled[field] ? problems[field] : undefined);

  const fieldRefs = useRef(new Map<ProxyField, HTMLInputElement>());
  // The checked option gets focus when the dialog opens (set as the radios mount).
  const initialFocus = useRef<HTMLInputElement | null>(null);
  const { progressRef, saveErrorRef } = useSaveFocus(saving, saveError);
  const testRef = useRef<HTMLElement>(null);

  const ids = {
    form: useId(),
    intro: useId(),
    address: useId(),
    port: useId(),
    user: useId(),
    password: useId(),
    clear: useId(),
  };

  // The result sits below the form: bring it into view (the dialog body scrolls, at 200 % zoom a lot).
  useEffect(() => {
    if (test || testError) testRef.current?.scrollIntoView({ block: 'start' });
  }, [test, testError]);

  useEffect(() => {
    const timers = settleTimers.current;
    return () => timers.forEach((timer) => clearTimeout(timer));
  }, []);

  const settle = (field: ProxyField) => {
    clearTimeout(settleTimers.current.get(field));
    settleTimers.current.delete(field);
    setSettled((current) => (current[field] ? current : { ...current, [field]: true }));
  };

  const update = (patch: Partial<ProxyForm>) => {
    setForm((current) => ({ ...current, ...patch }));
    for (const field of FIELDS) {
      if (!(field in patch)) continue;
      setSettled((current) => ({ ...current, [field]: false }));
      clearTimeout(settleTimers.current.get(field));
      settleTimers.current.set(
        field,
        setTimeout(() => settle(field), SETTLE_MS),
      );
    }
    // A test result belongs to the settings it tested.
    clearTest();
  };

  /** The input to send, or null after showing what to correct (focus goes to the first problem). */
  const checked = () => {
    setAttempted(true);
    const first = FIELDS.find((field) => problems[field]);
    if (first) {
      fieldRefs.current.get(first)?.focus();
      return null;
    }
    return inputFromForm(form, view.hasPassword);
  };

  const onTest = (event?: FormEvent) => {
    event?.preventDefault();
    if (saving) return;
    const input = checked();
    if (input) void runTest(input);
  };

  const onSave = () => {
    if (checked()) setConfirming(true);
  };

  const onConfirm = () => {
    const input = checked();
    setConfirming(false);
    if (input) void save(input);
  };

  const targetText = testTargetText(
    context,
    report?.registered ? (report.controlPlane?.endpoint ?? null) : null,
  );
  const custom = form.mode === 'custom';

  /** What every proxy field's input takes besides the links Field gives it. */
  const fieldProps = (field: ProxyField) => ({
    ref: (element: HTMLInputElement | null) => {
      if (element) fieldRefs.current.set(field, element);
      else fieldRefs.current.delete(field);
    },
    className: 'input',
    disabled: saving,
    onBlur: () => settle(field),
  });

  return (
    <>
      <Modal
        title="HTTP proxy"
        onClose={close}
        canClose={!saving}
        initialFocus={initialFocus}
        returnFocus={returnFocus}
        hidden={confirming}
        describedBy={ids.intro}
        className="modal--form"
        footer={
          <>
            <Button
              type="submit"
              form={ids.form}
              busy={testing}
              disabled={saving}
              className="modal__footer-start"
            >
              {testing ? 'Testing…' : 'Test'}
            </Button>
            <Button onClick={close} disabled={saving}>
              Cancel
            </Button>
            <Button variant="primary" icon={<RestartIcon size={18} />} busy={saving} onClick={onSave}>
              Save &amp; restart
            </Button>
          </>
        }
      >
        <p id={ids.intro} className="muted">
          How this node reaches the control plane. All traffic to the control plane goes through the chosen
          proxy. A proxy password is kept in this machine's secret store and never shown again.
        </p>
        <form id={ids.form} className="form form--dialog" onSubmit={onTest} noValidate>
          <ChoiceGroup
            legend="Proxy setting"
            options={PROXY_MODES}
            value={form.mode}
            onChange={(mode) => update({ mode })}
            labels={PROXY_MODE_LABEL}
            help={MODE_HELP}
            disabled={saving}
            initialFocus={initialFocus}
          />

          {custom ? (
            <div className="field-group">
              <div className="field-group__row">
                <Field
                  id={ids.address}
                  label="Proxy address"
                  className="field--grow"
                  hint="A host name or IP address, such as proxy.corp.example. The port has its own field."
                  problem={shown('address')}
                >
                  {(control) => (
                    <input
                      {...control}
                      {...fieldProps('address')}
                      type="text"
                      value={form.address}
                      onChange={(event) => update({ address: event.target.value })}
                      autoComplete="off"
                      autoCapitalize="off"
                      spellCheck={false}
                      maxLength={253}
                      placeholder="proxy.example.com"
                    />
                  )}
                </Field>
                <Field id={ids.port} label="Port" className="field--port" problem={shown('port')}>
                  {(control) => (
                    <input
                      {...control}
                      {...fieldProps('port')}
                      type="text"
                      inputMode="numeric"
                      value={form.port}
                      onChange={(event) => update({ port: event.target.value })}
                      autoComplete="off"
                      maxLength={5}
                      placeholder="3128"
                    />
                  )}
                </Field>
              </div>
              <Field
                id={ids.user}
                label="User name (optional)"
                hint="For proxies that ask for Basic authentication. NTLM and Negotiate (Kerberos) are not supported."
                problem={shown('user')}
              >
                {(control) => (
                  <input
                    {...control}
                    {...fieldProps('user')}
                    type="text"
                    value={form.user}
                    onChange={(event) => update({ user: event.target.value })}
                    autoComplete="off"
                    autoCapitalize="off"
                    spellCheck={false}
                    maxLength={256}
                  />
                )}
              </Field>
              <Field
                id={ids.password}
                label="Password (optional)"
                hint={
                  view.hasPassword
                    ? form.clearPassword
                      ? 'The saved password is removed when you save.'
                      : 'A password is saved. Leave this empty to keep it, or type a new one.'
                    : 'Sent only to the proxy, with the user name.'
                }
                problem={shown('password')}
                after={
                  view.hasPassword ? (
                    <label className="checkbox" htmlFor={ids.clear}>
                      <input
                        id={ids.clear}
                        type="checkbox"
                        checked={form.clearPassword}
                        disabled={saving}
                        onChange={(event) => update({ clearPassword: event.target.checked, password: '' })}
                      />
                      <span>Clear saved password</span>
                    </label>
                  ) : null
                }
              >
                {(control) => (
                  <input
                    {...control}
                    {...fieldProps('password')}
                    type="password"
                    value={form.clearPassword ? '' : form.password}
                    onChange={(event) => update({ password: event.target.value })}
                    autoComplete="new-password"
                    maxLength={1024}
                    placeholder={view.hasPassword && !form.clearPassword ? 'unchanged' : undefined}
                    disabled={saving || form.clearPassword}
                  />
                )}
              </Field>
            </div>
          ) : null}
        </form>

        <CheckSection
          sectionRef={testRef}
          hint={targetText}
          busy={testing}
          busyText="Testing the connection with these settings…"
          passed={
            test?.ok
              ? `Test passed: the control plane answered. ${routeText(test.route)} (${test.route.reason}).`
              : null
          }
          failure={test && !test.ok ? (test.error ?? null) : null}
          notRun={
            testError
              ? {
                  error: testError,
                  tone:
                    testError === PROXY_TEST_NEEDS_KEY || testError === PROXY_TEST_NOT_REGISTERED
                      ? 'info'
                      : 'error',
                }
              : null
          }
          stepsLabel={`Test steps to ${test?.target ?? ''}`}
          steps={
            test?.steps.map((step) => ({
              key: step.step,
              label: step.label,
              result: step.ok ? 'passed' : 'failed',
              ms: step.ms,
              detail: step.detail,
            })) ?? null
          }
        />

        <DialogProgress
          progressRef={progressRef}
          text={
            saving ? 'Saving the proxy setting and restarting the Integration Runtime Host Service…' : null
          }
        />
        <ErrorSlot
          error={saveError}
          title="The proxy setting could not be saved and applied."
          slotRef={saveErrorRef}
        />
      </Modal>

      {confirming ? <ConfirmRestart onConfirm={onConfirm} onCancel={() => setConfirming(false)} /> : null}
    </>
  );
}

function ConfirmRestart({ onConfirm, onCancel }: { onConfirm: () => void; onCancel: () => void }) {
  return (
    <ConfirmDialog
      title="Save and restart the host service?"
      confirmLabel="Save and restart"
      confirmIcon={<RestartIcon size={18} />}
      variant="primary"
      onConfirm={onConfirm}
      onCancel={onCancel}
    >
      <p>{CONFIRM_RESTART_MESSAGE}</p>
    </ConfirmDialog>
  );
}

function testTargetText(context: ProxyDialogContext, registeredEndpoint: string | null): string {
  if (context.from === 'register') {
    return context.target
      ? `Test tries these settings, before saving, against the control plane in the pasted key: ${context.target.endpoint}.`
      : 'Paste the authentication key first: Test reaches the control plane named in the key.';
  }
  return registeredEndpoint
    ? `Test tries these settings, before saving, against this node's control plane: ${registeredEndpoint}.`
    : 'This node is not registered yet: test from the Register page, after pasting the authentication key.';
}
