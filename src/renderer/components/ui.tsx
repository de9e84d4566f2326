import {
  useEffect,
  useId,
  useRef,
  type ComponentPropsWithRef,
  type ReactNode,
  type Ref,
  type RefObject,
} from 'react';
import type { UiError } from '../errors';
import { CheckCircleIcon, ErrorCircleIcon, InfoIcon, WarningIcon } from './Icons';

/** A titled card; the heading names the section for screen readers. */
export function Card({
  title,
  icon,
  actions,
  className,
  children,
  headingLevel = 3,
}: {
  title: ReactNode;
  icon?: ReactNode;
  actions?: ReactNode;
  className?: string;
  children: ReactNode;
  headingLevel?: 2 | 3;
}) {
  const id = useId();
  const Heading = headingLevel === 2 ? 'h2' : 'h3';
  return (
    <section className={className ? `card ${className}` : 'card'} aria-labelledby={id}>
      <header className="card__header">
        <Heading id={id} className="card__title">
          {icon}
          <span>{title}</span>
        </Heading>
        {actions ? <div className="card__actions">{actions}</div> : null}
      </header>
      <div className="card__body">{children}</div>
    </section>
  );
}

export function Spinner() {
  return <span className="spinner" aria-hidden="true" />;
}

type ButtonProps = ComponentPropsWithRef<'button'> & {
  variant?: 'primary' | 'secondary' | 'danger' | 'ghost';
  busy?: boolean;
  icon?: ReactNode;
};

/** A button that shows progress in place; stays labelled by its text while busy. */
export function Button({
  variant = 'secondary',
  busy = false,
  icon,
  children,
  className,
  disabled,
  ...rest
}: ButtonProps) {
  return (
    <button
      type="button"
      {...rest}
      className={`btn btn--${variant}${className ? ` ${className}` : ''}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
    >
      {busy ? <Spinner /> : icon}
      <span>{children}</span>
    </button>
  );
}

export type CalloutTone = 'info' | 'warn' | 'error';

export function Callout({
  tone,
  title,
  children,
  role,
}: {
  tone: CalloutTone;
  title?: ReactNode;
  children?: ReactNode;
  role?: 'alert' | 'status' | 'note';
}) {
  const IconFor = tone === 'error' ? ErrorCircleIcon : tone === 'warn' ? WarningIcon : InfoIcon;
  return (
    <div className={`callout callout--${tone}`} role={role}>
      <IconFor size={20} className="callout__icon" />
      <div className="callout__content">
        {title ? <p className="callout__title">{title}</p> : null}
        {children}
      </div>
    </div>
  );
}

/** An error as the host reported it: what happened, then how to fix it. */
export function ErrorDetails({ error }: { error: UiError }) {
  return (
    <>
      <p className="callout__reason">{error.message}</p>
      {error.fix ? (
        <p className="callout__fix">
          <strong>How to fix: </strong>
          <Code text={error.fix} />
        </p>
      ) : null}
      <p className="callout__code">Error code: {error.code}</p>
    </>
  );
}

/**
 * Where an action's failure appears: an always-present live region (so screen
 * readers announce the error when it arrives), empty until there is one.
 */
export function ErrorSlot({
  error,
  title,
  slotRef,
}: {
  error: UiError | null;
  title: ReactNode;
  /** For dialogs that move focus to the error. */
  slotRef?: Ref<HTMLDivElement>;
}) {
  return (
    <div role="alert" className="alert-slot" {...(slotRef ? { ref: slotRef, tabIndex: -1 } : {})}>
      {error ? (
        <Callout tone="error" title={title}>
          <ErrorDetails error={error} />
        </Callout>
      ) : null}
    </div>
  );
}

/** Where an action's success appears: a live status line, empty until there is news. */
export function DoneLine({ text }: { text: string | null }) {
  return (
    <p role="status" className="small status-line">
      {text ? (
        <span className="inline-status tone-ok">
          <CheckCircleIcon size={16} />
          <span className="break">{text}</span>
        </span>
      ) : null}
    </p>
  );
}

/** A load from the host that failed: the reason, its fix, and a retry. Every card that loads data uses it. */
export function LoadFailed({
  title,
  error,
  onRetry,
}: {
  title: string;
  error: UiError;
  onRetry: () => void;
}) {
  return (
    <Callout tone="error" title={title}>
      <ErrorDetails error={error} />
      <div className="callout__actions">
        <Button onClick={onRetry}>Try again</Button>
      </div>
    </Callout>
  );
}

/** The line shown while a card's data is on its way. */
export function Loading({ text }: { text: string }) {
  return (
    <p className="inline-status muted">
      <Spinner />
      <span>{text}</span>
    </p>
  );
}

/** Renders `backticked` parts of host messages as code, the way the CLI prints them. */
export function Code({ text }: { text: string }) {
  const parts = text.split('`');
  return (
    <>
      {parts.map((part, index) =>
        index % 2 === 1 ? (
          <code key={index} className="inline-code">
            {part}
          </code>
        ) : (
          <span key={index}>{part}</span>
        ),
      )}
    </>
  );
}

/** A labelled key/value list. */
export function Facts({ children }: { children: ReactNode }) {
  return <dl className="facts">{children}</dl>;
}

export function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="facts__row">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** A horizontal gauge with its value in text next to it. */
export function Gauge({ label, percent, valueText }: { label: string; percent: number; valueText: string }) {
  const clamped = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
  const tone = clamped >= 90 ? 'bad' : clamped >= 75 ? 'warn' : 'ok';
  const id = useId();
  return (
    <div className="gauge">
      <div className="gauge__head">
        <span id={id} className="gauge__label">
          {label}
        </span>
        <span className="gauge__value">{valueText}</span>
      </div>
      <div
        className="gauge__track"
        role="meter"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(clamped)}
        aria-valuetext={valueText}
      >
        <div className={`gauge__fill gauge__fill--${tone}`} style={{ inlineSize: `${clamped}%` }} />
      </div>
    </div>
  );
}

/** What a field's control takes to be linked to its label, hint and problem. */
export interface FieldControl {
  id: string;
  'aria-invalid'?: true;
  'aria-describedby'?: string;
}

/**
 * One form field: its label, its control, a hint and a problem, linked for
 * assistive technology (the control is described by the hint and, while there
 * is one, the problem, and marked invalid). The control is the caller's (an
 * input, a select, an input with buttons beside it), rendered with the props
 * that link it; the hint's and the problem's ids are `<id>-hint` and
 * `<id>-problem`.
 */
export function Field({
  id,
  label,
  hint,
  problem,
  className,
  after,
  children,
}: {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  problem?: string | null | undefined;
  className?: string;
  /** What belongs to the field below its problem (e.g. a checkbox that empties it). */
  after?: ReactNode;
  children: (control: FieldControl) => ReactNode;
}) {
  const describedBy = [hint ? `${id}-hint` : null, problem ? `${id}-problem` : null]
    .filter(Boolean)
    .join(' ');
  return (
    <div className={className ? `field ${className}` : 'field'}>
      <label htmlFor={id} className="field__label">
        {label}
      </label>
      {children({
        id,
        ...(problem ? { 'aria-invalid': true as const } : {}),
        ...(describedBy ? { 'aria-describedby': describedBy } : {}),
      })}
      {hint ? (
        <p id={`${id}-hint`} className="field__hint">
          {hint}
        </p>
      ) : null}
      <FieldProblem id={`${id}-problem`} problem={problem} />
      {after}
    </div>
  );
}

/** A field's problem, in words, while there is one. */
export function FieldProblem({ id, problem }: { id: string; problem: string | null | undefined }) {
  if (!problem) return null;
  return (
    <p id={id} className="field__problem">
      <span className="field__problem-label">Problem: </span>
      {problem}
    </p>
  );
}

/**
 * One choice out of a few, as radio buttons with a label and a line of help each (the proxy setting, the
 * remote access setting, the credential type). Only the checked option is a Tab stop.
 */
export function ChoiceGroup<V extends string>({
  legend,
  options,
  value,
  onChange,
  labels,
  help,
  disabled,
  initialFocus,
}: {
  legend: ReactNode;
  options: readonly V[];
  value: V;
  onChange: (value: V) => void;
  labels: Record<V, ReactNode>;
  help: Record<V, ReactNode>;
  disabled?: boolean;
  /** Set to the checked option's input as it mounts, for a dialog to focus it when it opens. */
  initialFocus?: RefObject<HTMLInputElement | null> | undefined;
}) {
  const id = useId();
  return (
    <fieldset className="choice-group" role="radiogroup" aria-labelledby={id} disabled={disabled}>
      <legend id={id} className="field__label">
        {legend}
      </legend>
      {options.map((option) => {
        const optionId = `${id}-${option}`;
        return (
          <div key={option} className={`choice${value === option ? ' choice--selected' : ''}`}>
            <input
              id={optionId}
              ref={(element) => {
                if (initialFocus && element && option === value && !initialFocus.current)
                  initialFocus.current = element;
              }}
              type="radio"
              name={id}
              value={option}
              checked={value === option}
              onChange={() => onChange(option)}
              aria-describedby={`${optionId}-help`}
            />
            <div className="choice__text">
              <label htmlFor={optionId} className="choice__label">
                {labels[option]}
              </label>
              <p id={`${optionId}-help`} className="field__hint">
                {help[option]}
              </p>
            </div>
          </div>
        );
      })}
    </fieldset>
  );
}

/**
 * A file to upload and the password that opens it (a backup to restore, a PFX to import). The file is
 * handed over as chosen; the password is the caller's state, used once and never stored.
 */
export function FileWithPassword({
  file,
  password,
  between,
  disabled,
}: {
  file: {
    label: string;
    hint?: ReactNode;
    accept: string;
    inputRef?: Ref<HTMLInputElement>;
    onChoose: (chosen: File | undefined) => void;
  };
  password: { label: string; hint?: ReactNode; value: string; onChange: (value: string) => void };
  /** What belongs between the two fields, e.g. what the chosen file holds. */
  between?: ReactNode;
  disabled: boolean;
}) {
  const ids = { file: useId(), password: useId() };
  return (
    <>
      <Field id={ids.file} label={file.label} hint={file.hint}>
        {(control) => (
          <input
            {...control}
            ref={file.inputRef}
            className="input input--file"
            type="file"
            accept={file.accept}
            disabled={disabled}
            onChange={(event) => file.onChoose(event.target.files?.[0])}
          />
        )}
      </Field>
      {between}
      <Field id={ids.password} label={password.label} hint={password.hint}>
        {(control) => (
          <input
            {...control}
            className="input"
            type="password"
            value={password.value}
            autoComplete="off"
            maxLength={1024}
            disabled={disabled}
            onChange={(event) => password.onChange(event.target.value)}
          />
        )}
      </Field>
    </>
  );
}

/** The line that says a dialog's change is under way; focused while it is, so it is announced. */
export function DialogProgress({
  text,
  progressRef,
}: {
  text: string | null;
  progressRef: Ref<HTMLDivElement>;
}) {
  return (
    <div ref={progressRef} tabIndex={-1} role="status" className="status-line dialog-progress">
      {text ? (
        <span className="inline-status">
          <Spinner />
          <span>{text}</span>
        </span>
      ) : null}
    </div>
  );
}

/**
 * A dialog's save, followed by focus: to the progress line while saving (so it is announced), then to the
 * error if the save failed.
 */
export function useSaveFocus(saving: boolean, saveError: UiError | null) {
  const progressRef = useRef<HTMLDivElement>(null);
  const saveErrorRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (saving) progressRef.current?.focus();
  }, [saving]);
  useEffect(() => {
    if (saveError) saveErrorRef.current?.focus();
  }, [saveError]);
  return { progressRef, saveErrorRef };
}
