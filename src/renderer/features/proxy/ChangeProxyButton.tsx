import type { Ref } from 'react';
import { Button } from '../../components/ui';
import { useApp } from '../../store';
import type { ProxyDialogContext } from './proxySlice';

/**
 * Opens the HTTP proxy dialog. Visibly "Change", named "Change proxy" for assistive technology; focus comes
 * back here when the dialog closes.
 */
export function ChangeProxyButton({
  context,
  disabled,
  variant,
  ref,
}: {
  context: ProxyDialogContext;
  disabled?: boolean;
  variant?: 'secondary' | 'link';
  ref?: Ref<HTMLButtonElement>;
}) {
  const open = useApp((s) => s.openProxyDialog);
  const label = (
    <>
      Change<span className="visually-hidden"> proxy</span>
    </>
  );
  if (variant === 'link') {
    return (
      <button
        ref={ref}
        type="button"
        className="link-button"
        disabled={disabled}
        aria-haspopup="dialog"
        onClick={() => open(context)}
      >
        {label}
      </button>
    );
  }
  return (
    <Button ref={ref} disabled={disabled} aria-haspopup="dialog" onClick={() => open(context)}>
      {label}
    </Button>
  );
}
