import type { Ref } from 'react';
import { GlobeIcon } from '../../components/Icons';
import { useApp } from '../../store';
import { ChangeProxyButton } from './ChangeProxyButton';
import { proxySummary } from './proxyForm';
import type { ProxyTestTarget } from './proxySlice';

/** The proxy registration goes through, with the link to change it before registering. */
export function ProxyLine({
  target,
  disabled,
  openerRef,
}: {
  target: ProxyTestTarget | null;
  disabled: boolean;
  /** The Change link; the dialog (rendered outside the Register form) gives focus back to it. */
  openerRef: Ref<HTMLButtonElement>;
}) {
  const { value: view, loadError } = useApp((s) => s.proxy);
  const saved = useApp((s) => s.proxyDialog.saved);
  return (
    <div className="proxy-line">
      <GlobeIcon size={18} className="proxy-line__icon" />
      <p className="proxy-line__text">
        <span className="proxy-line__label">HTTP proxy:</span>{' '}
        {view ? (
          <span className="break">{proxySummary(view)}</span>
        ) : (
          <span className="muted">{loadError ? 'the setting could not be loaded' : 'loading…'}</span>
        )}
      </p>
      <ChangeProxyButton
        ref={openerRef}
        variant="link"
        context={{ from: 'register', target }}
        disabled={disabled || !view}
      />
      <p role="status" className="proxy-line__saved small status-line tone-ok">
        {saved?.from === 'register' ? 'Saved. Registration goes through this setting.' : ''}
      </p>
    </div>
  );
}
