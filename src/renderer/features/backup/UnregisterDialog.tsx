import { useId, useRef, useState } from 'react';
import { DownloadIcon, PlugOffIcon } from '../../components/Icons';
import { Modal } from '../../components/Modal';
import { Button, ErrorSlot } from '../../components/ui';
import type { UiError } from '../../errors';
import { useApp } from '../../store';

/** Codes after which "Unregister anyway" (clean this machine only) makes sense. */
const UNREACHABLE_CODES = new Set([
  'CONTROL_PLANE_UNREACHABLE',
  'CONTROL_PLANE_TLS_FAILED',
  'CONTROL_PLANE_TLS_PIN_MISMATCH',
  'CONTROL_PLANE_ERROR',
  'PROXY_UNREACHABLE',
  'PROXY_AUTH_FAILED',
  'PROXY_REFUSED',
  'PROXY_AUTH_UNSUPPORTED',
  'TIMEOUT',
  'VAULT_UNAVAILABLE',
]);

/** Asks before unregistering, offers a backup first, and after a failure to reach the control plane offers
 * to clean this machine only. */
export function ConfirmUnregister({
  nodeName,
  irName,
  onCancel,
  onBackUpFirst,
}: {
  nodeName: string;
  irName: string;
  onCancel: () => void;
  onBackUpFirst: () => void;
}) {
  const unregister = useApp((s) => s.unregister);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [force, setForce] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const textId = useId();
  const forceId = useId();
  const canForce = error !== null && UNREACHABLE_CODES.has(error.code);

  const onConfirm = async () => {
    setBusy(true);
    setError(null);
    const outcome = await unregister(force);
    setBusy(false);
    // On success the node needs registration and the app shows the Register page; this dialog unmounts.
    if (!outcome.ok) setError(outcome.error);
  };

  return (
    <Modal
      role="alertdialog"
      title="Unregister this node?"
      onClose={onCancel}
      initialFocus={cancelRef}
      describedBy={textId}
      className="modal--confirm"
      showClose={false}
      canClose={!busy}
      footer={
        <>
          <Button ref={cancelRef} onClick={onCancel} disabled={busy}>
            Cancel
          </Button>
          <Button icon={<DownloadIcon size={18} />} onClick={onBackUpFirst} disabled={busy}>
            Back up first
          </Button>
          <Button
            variant="danger"
            icon={<PlugOffIcon size={18} />}
            busy={busy}
            disabled={canForce && !force}
            onClick={() => void onConfirm()}
          >
            {force ? 'Unregister anyway' : 'Unregister'}
          </Button>
        </>
      }
    >
      <div id={textId} className="stack">
        <p>
          <strong>{nodeName}</strong> is removed from the integration runtime <strong>{irName}</strong> on the
          control plane, its running jobs stop, and its node credential and the integration runtime's data
          store credentials are deleted from this machine. Proxy settings and certificates stay.
        </p>
        <p>
          To bring this node back as itself later, <strong>back up first</strong>: a backup made now can be
          restored; without one the node must register again as a new node.
        </p>
      </div>
      <ErrorSlot error={error} title="The node was not unregistered." />
      {canForce ? (
        <label className="checkbox" htmlFor={forceId}>
          <input
            id={forceId}
            type="checkbox"
            checked={force}
            disabled={busy}
            onChange={(event) => setForce(event.target.checked)}
          />
          <span>Clean this machine only; the control plane keeps listing the node</span>
        </label>
      ) : null}
    </Modal>
  );
}
