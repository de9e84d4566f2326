import { useId, useState } from 'react';
import type { CreateDiagnosticsBundleOutput } from '../../../shared/diagnosticsBundle';
import { DownloadIcon } from '../../components/Icons';
import { Button, Callout, Card, ErrorDetails, ErrorSlot } from '../../components/ui';
import type { UiError } from '../../errors';
import { downloadBase64 } from '../../files';
import { formatDateTime } from '../../format';
import { useApp } from '../../store';

/**
 * Diagnostics › Create diagnostics bundle: the host makes the zip (secrets left out, every file scanned),
 * the page saves it the way backups are saved, and shows the bundle's ID for support. "Send to control
 * plane" also uploads it as this node; a failed upload still leaves the saved file.
 */
export function DiagnosticsBundleCard() {
  const create = useApp((s) => s.createDiagnosticsBundle);
  const registered = useApp((s) => s.report?.registered ?? false);
  const [send, setSend] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [made, setMade] = useState<CreateDiagnosticsBundleOutput | null>(null);
  const ids = { send: useId(), result: useId() };

  const onCreate = async () => {
    setBusy(true);
    setError(null);
    setMade(null);
    const outcome = await create(send && registered);
    setBusy(false);
    if (!outcome.ok) {
      setError(outcome.error);
      return;
    }
    downloadBase64(outcome.value.fileName, outcome.value.content);
    setMade(outcome.value);
  };

  return (
    <Card title="Diagnostics bundle" className="card--wide">
      <p className="muted small">
        One zip for support: the logs (current and rotated), the configuration with every secret shown as
        [redacted], the status, the troubleshoot report, versions, recent jobs, the certificate list (public
        parts) and the proxy settings without the password. Each bundle has an ID to quote.
      </p>
      <label className="checkbox" htmlFor={ids.send}>
        <input
          id={ids.send}
          type="checkbox"
          checked={send && registered}
          disabled={!registered || busy}
          onChange={(event) => setSend(event.target.checked)}
        />
        <span>
          Send to control plane
          {registered ? null : <span className="muted small"> (register this node first)</span>}
        </span>
      </label>
      <div className="button-row">
        <Button
          variant="primary"
          icon={<DownloadIcon size={16} />}
          busy={busy}
          onClick={() => void onCreate()}
        >
          Create diagnostics bundle
        </Button>
      </div>
      <ErrorSlot error={error} title="The diagnostics bundle was not made." />
      {made ? (
        <div id={ids.result} role="status" className="bundle-result">
          <p>
            Bundle ID: <strong className="mono bundle-id">{made.id}</strong>
          </p>
          <p className="small">
            Saved {made.fileName} ({formatSize(made.size)}, {made.files.length + 1} files), made{' '}
            {formatDateTime(made.createdAt)}.
          </p>
          {made.sent?.ok ? (
            <p className="small tone-ok">
              Sent to the control plane at {formatDateTime(made.sent.receivedAt)}. There:{' '}
              <code>openir-control-plane diagnostics get {made.id}</code>
            </p>
          ) : null}
        </div>
      ) : null}
      {made?.sent && !made.sent.ok ? (
        <Callout tone="warn" role="alert" title="Saved, but not sent to the control plane.">
          <ErrorDetails error={made.sent.error} />
        </Callout>
      ) : null}
    </Card>
  );
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
