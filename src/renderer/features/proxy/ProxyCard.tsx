import { useRef } from 'react';
import type { StatusReport } from '../../../shared/contract';
import { CheckCircleIcon, GlobeIcon, WarningIcon } from '../../components/Icons';
import { Card, Fact, Facts, LoadFailed, Loading, Spinner } from '../../components/ui';
import { useApp } from '../../store';
import { ChangeProxyButton } from './ChangeProxyButton';
import { ProxyDialog } from './ProxyDialog';
import { PROXY_MODE_LABEL, proxyHostPort, SYSTEM_PROXY_HELP } from './proxyForm';

/** Settings → HTTP proxy: the saved setting, the route it gives, and the dialog that changes it. */
export function ProxyCard({ report }: { report: StatusReport }) {
  const { value: view, loadError } = useApp((s) => s.proxy);
  const saved = useApp((s) => s.proxyDialog.saved);
  const refresh = useApp((s) => s.refreshProxy);
  const openerRef = useRef<HTMLButtonElement>(null);
  const settings = view?.settings;
  return (
    <>
      <Card
        title="HTTP proxy"
        icon={<GlobeIcon size={20} className="muted" />}
        actions={<ChangeProxyButton ref={openerRef} context={{ from: 'settings' }} disabled={!view} />}
      >
        {view && settings ? (
          <Facts>
            <Fact label="Setting">
              <strong>{PROXY_MODE_LABEL[settings.mode]}</strong>
            </Fact>
            {settings.mode === 'custom' ? (
              <>
                <Fact label="Proxy server">
                  <span className="mono break">{proxyHostPort(settings)}</span>
                </Fact>
                <Fact label="User">
                  {settings.user ? (
                    <>
                      <span className="break">{settings.user}</span>
                      <span className="tag">{view.hasPassword ? 'password set' : 'no password'}</span>
                    </>
                  ) : (
                    <span className="muted">None (no authentication)</span>
                  )}
                </Fact>
              </>
            ) : null}
            <Fact label="Route to the control plane">
              {view.route ? (
                <>
                  {view.route.kind === 'proxy' && view.route.proxy ? (
                    <>
                      Through <span className="mono break">{view.route.proxy}</span>
                    </>
                  ) : (
                    'Direct connection'
                  )}
                  <span className="muted"> — {view.route.reason}</span>
                </>
              ) : (
                <span className="muted">Known once this node is registered.</span>
              )}
            </Fact>
          </Facts>
        ) : loadError ? null : (
          <Loading text="Loading the proxy setting…" />
        )}
        {settings?.mode === 'system' ? <p className="muted small">{SYSTEM_PROXY_HELP}</p> : null}
        <p role="status" className="small status-line">
          {saved?.from === 'settings' ? <SavedNotice report={report} /> : null}
        </p>
        {loadError ? (
          <LoadFailed
            title="The proxy setting could not be loaded."
            error={loadError}
            onRetry={() => void refresh()}
          />
        ) : null}
      </Card>
      <ProxyDialog returnFocus={openerRef} />
    </>
  );
}

/** After a save the host service restarts; this follows the node until it is back. */
function SavedNotice({ report }: { report: StatusReport }) {
  if (!report.registered)
    return (
      <span className="inline-status tone-ok">
        <CheckCircleIcon size={16} />
        <span>Proxy setting saved. Registration uses it.</span>
      </span>
    );
  if (!report.serviceRunning)
    return (
      <span className="inline-status">
        <CheckCircleIcon size={16} className="tone-ok" />
        <span>Proxy setting saved. It takes effect when the host service starts.</span>
      </span>
    );
  switch (report.status) {
    case 'Online':
    case 'Limited':
    case 'Pending':
      return (
        <span className="inline-status tone-ok">
          <CheckCircleIcon size={16} />
          <span>Proxy setting saved. The node reconnected to the control plane.</span>
        </span>
      );
    case 'Offline':
      return (
        <span className="inline-status tone-warn">
          <WarningIcon size={16} />
          <span>
            Proxy setting saved, but the node cannot reach the control plane with it. See the last error on
            Home, or change the proxy and test it.
          </span>
        </span>
      );
    default:
      return (
        <span className="inline-status">
          <Spinner />
          <span>Proxy setting saved. The host service restarted; the node is reconnecting…</span>
        </span>
      );
  }
}
