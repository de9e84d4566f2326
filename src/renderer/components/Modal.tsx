import {
  useEffect,
  useId,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
  type RefObject,
} from 'react';
import { CloseIcon } from './Icons';

const TABBABLE = [
  'a[href]',
  'button:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  '[tabindex]:not([tabindex="-1"])',
].join(',');

/** The elements Tab stops on, in order; of a radio group only the checked radio is a stop. */
function tabStops(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(TABBABLE)].filter((element) => {
    if (element.closest('[inert]') || element.getClientRects().length === 0) return false;
    if (element instanceof HTMLInputElement && element.type === 'radio' && !element.checked) {
      const group = element.name
        ? root.querySelectorAll<HTMLInputElement>(`input[type="radio"][name="${CSS.escape(element.name)}"]`)
        : [];
      return ![...group].some((radio) => radio.checked);
    }
    return true;
  });
}

/**
 * A modal dialog: the native `<dialog>` shown with showModal() (the page behind is inert and the dialog is
 * in the top layer), plus what the platform leaves out: Tab wraps inside the dialog, Esc closes through
 * `onClose` so the state stays the source of truth, and focus goes back to the element that opened it.
 */
export function Modal({
  title,
  role = 'dialog',
  onClose,
  initialFocus,
  returnFocus,
  hidden = false,
  describedBy,
  className,
  headerExtra,
  footer,
  children,
  closeLabel = 'Close',
  showClose = true,
  canClose = true,
}: {
  title: string;
  role?: 'dialog' | 'alertdialog';
  onClose: () => void;
  /** Focused when the dialog opens; else the first control. */
  initialFocus?: RefObject<HTMLElement | null>;
  /** Where focus goes on close when the element that opened the dialog is gone (e.g. a deleted row's button). */
  returnFocus?: RefObject<HTMLElement | null> | undefined;
  /** Set while a dialog stacked above this one is open, so assistive technology reads only that one. */
  hidden?: boolean;
  describedBy?: string;
  className?: string;
  headerExtra?: ReactNode;
  footer?: ReactNode;
  children: ReactNode;
  closeLabel?: string;
  /** The header's close (×) button; a confirmation has its own Cancel instead. */
  showClose?: boolean;
  canClose?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  // The element focused when the dialog opened: the one that opened it.
  const [opener] = useState(() =>
    document.activeElement instanceof HTMLElement ? document.activeElement : null,
  );
  const closeRef = useRef(onClose);
  const canCloseRef = useRef(canClose);
  useEffect(() => {
    closeRef.current = onClose;
    canCloseRef.current = canClose;
  });

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    const target = initialFocus?.current ?? tabStops(dialog)[0] ?? dialog;
    target.focus();
    return () => {
      if (dialog.open) dialog.close();
      const back = opener?.isConnected ? opener : (returnFocus?.current ?? null);
      back?.focus();
    };
    // Opening and closing follow mounting; the refs and callbacks are read when needed.
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDialogElement>) => {
    if (event.key === 'Escape') {
      // Handled here so the browser does not close the dialog behind React's back.
      event.preventDefault();
      event.stopPropagation();
      if (canCloseRef.current) closeRef.current();
      return;
    }
    if (event.key !== 'Tab' || !ref.current) return;
    const stops = tabStops(ref.current);
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (!first || !last) {
      event.preventDefault();
      return;
    }
    const active = document.activeElement;
    if (event.shiftKey && (active === first || !ref.current.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !ref.current.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <dialog
      ref={ref}
      role={role}
      aria-modal="true"
      aria-labelledby={titleId}
      aria-describedby={describedBy}
      aria-hidden={hidden || undefined}
      className={className ? `modal ${className}` : 'modal'}
      onKeyDown={onKeyDown}
      onCancel={(event) => {
        // Esc that did not come through onKeyDown (e.g. a close request of the platform).
        event.preventDefault();
        if (canCloseRef.current) closeRef.current();
      }}
      onClose={() => {
        // Closed by the browser anyway (it may force a second close request): keep the state in step.
        const dialog = ref.current;
        if (dialog?.isConnected && !dialog.open) closeRef.current();
      }}
    >
      <div className="modal__frame">
        <header className="modal__header">
          <h2 id={titleId} className="modal__title">
            {title}
          </h2>
          {headerExtra}
          {showClose ? (
            <button
              type="button"
              className="modal__close"
              onClick={() => closeRef.current()}
              disabled={!canClose}
              aria-label={closeLabel}
              title={closeLabel}
            >
              <CloseIcon size={20} />
            </button>
          ) : null}
        </header>
        <div className="modal__body">{children}</div>
        {footer ? <footer className="modal__footer">{footer}</footer> : null}
      </div>
    </dialog>
  );
}
