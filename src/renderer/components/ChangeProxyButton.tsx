import { useApp, type ProxyDialogContext } from '../store';
import { Button } from './ui';

/**
 * Opens the HTTP proxy dialog. Visibly "Change", named "Change proxy" for assistive technology; focus comes
 * back here when the dialog closes.
 */
export function ChangeProxyButton({
  context,
  disabled,
  variant,
}: {
  context: ProxyDialogContext;
  disabled?: boolean;
  variant?: 'secondary' | 'link';
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
        type="button"
        className="link-button"
        disabled={disabled}
        data-proxy-opener=""
        aria-haspopup="dialog"
        onClick={() => open(context)}
      >
        {label}
      </button>
    );
  }
  return (
    <Button disabled={disabled} data-proxy-opener="" aria-haspopup="dialog" onClick={() => open(context)}>
      {label}
    </Button>
  );
}
