import { useId, type ReactNode, type Ref } from 'react';
import type { UiError } from '../errors';
import { CheckCircleIcon, ErrorCircleIcon, InfoIcon } from './Icons';
import { Callout, ErrorDetails, Spinner, type CalloutTone } from './ui';

/** One step of a connection test, as the dialogs that test before saving show it. */
export interface CheckStep {
  key: string;
  label: string;
  result: 'passed' | 'failed' | 'skipped';
  ms: number;
  detail: string;
}

/**
 * The "Connection test" part of a dialog that tests its values before saving
 * (the proxy and the credential dialogs): what Test tries, a busy or passed
 * line, the failure or why the test did not run, then the steps.
 */
export function CheckSection({
  sectionRef,
  hint,
  busyText,
  busy,
  passed,
  failure,
  notRun,
  stepsLabel,
  steps,
}: {
  sectionRef: Ref<HTMLElement>;
  hint: ReactNode;
  busyText: string;
  busy: boolean;
  /** The line shown when the test passed, else null. */
  passed: ReactNode | null;
  failure: UiError | null;
  notRun: { error: UiError; tone: CalloutTone } | null;
  stepsLabel: string;
  steps: CheckStep[] | null;
}) {
  const heading = useId();
  return (
    <section ref={sectionRef} className="check-section" aria-labelledby={heading}>
      <h3 id={heading} className="check-section__title">
        Connection test
      </h3>
      <p className="field__hint">{hint}</p>
      <div role="status" className="check-section__status">
        {busy ? (
          <span className="inline-status">
            <Spinner />
            <span>{busyText}</span>
          </span>
        ) : passed ? (
          <span className="inline-status tone-ok">
            <CheckCircleIcon size={18} />
            <span>{passed}</span>
          </span>
        ) : null}
      </div>
      <div role="alert" className="alert-slot">
        {failure && steps ? (
          <Callout tone="error" title={failedTitle(steps)}>
            <ErrorDetails error={failure} />
          </Callout>
        ) : notRun ? (
          <Callout tone={notRun.tone} title="The test did not run.">
            <ErrorDetails error={notRun.error} />
          </Callout>
        ) : null}
      </div>
      {steps && steps.length > 0 ? <CheckSteps label={stepsLabel} steps={steps} /> : null}
    </section>
  );
}

function CheckSteps({ label, steps }: { label: string; steps: CheckStep[] }) {
  return (
    <ol className="proxy-steps" aria-label={label}>
      {steps.map((step) => (
        <li key={step.key} className={`proxy-step proxy-step--${step.result === 'failed' ? 'bad' : 'ok'}`}>
          {step.result === 'failed' ? (
            <ErrorCircleIcon size={18} className="proxy-step__icon" />
          ) : step.result === 'skipped' ? (
            <InfoIcon size={18} className="proxy-step__icon" />
          ) : (
            <CheckCircleIcon size={18} className="proxy-step__icon" />
          )}
          <span className="proxy-step__label">{step.label}</span>
          <span className="proxy-step__result">
            {step.result === 'failed' ? 'Failed' : step.result === 'skipped' ? 'Skipped' : 'Passed'}
            <span aria-hidden="true"> · </span>
            <span className="visually-hidden">, </span>
            {formatMs(step.ms)}
          </span>
          <span className="proxy-step__detail">{step.detail}</span>
        </li>
      ))}
    </ol>
  );
}

function failedTitle(steps: CheckStep[]): string {
  const failed = steps.find((step) => step.result === 'failed');
  return failed ? `Test failed: ${failed.label}` : 'Test failed';
}

export function formatMs(ms: number): string {
  return ms < 1 ? '<1 ms' : `${Math.round(ms)} ms`;
}
