import { useCallback, useId, useMemo, useRef, useState, type RefObject } from 'react';
import { REMOTE_ACCESS_MODES, type RemoteAccessView } from '../../../shared/remoteAccess';
import { Modal } from '../../components/Modal';
import { Button, DialogProgress, ErrorSlot, useSaveFocus } from '../../components/ui';
import { useApp } from '../../store';
import {
  checkRemoteAccessForm,
  formFromSettings,
  settingsFromForm,
  type RemoteAccessField,
  type RemoteAccessForm,
} from './remoteAccessForm';
import { RemoteAccessFields } from './RemoteAccessFields';

const FIELDS: RemoteAccessField[] = ['port', 'certificate'];

/** The remote access from intranet dialog, open while the store's `remoteAccessDialog` is. */
export function RemoteAccessDialog({ returnFocus }: { returnFocus: RefObject<HTMLElement | null> }) {
  const open = useApp((s) => s.remoteAccessDialog.open);
  const view = useApp((s) => s.remoteAccess.value);
  if (!open || !view) return null;
  // Mounted afresh on every opening, so the form starts from the saved setting.
  return <RemoteAccessDialogContent view={view} returnFocus={returnFocus} />;
}

function RemoteAccessDialogContent({
  view,
  returnFocus,
}: {
  view: RemoteAccessView;
  returnFocus: RefObject<HTMLElement | null>;
}) {
  const certificates = useApp((s) => s.certificates.value?.certificates ?? null);
  const { saving, saveError } = useApp((s) => s.remoteAccessDialog);
  const close = useApp((s) => s.closeRemoteAccessDialog);
  const save = useApp((s) => s.saveRemoteAccess);

  const [form, setForm] = useState<RemoteAccessForm>(() => formFromSettings(view.settings));
  const [attempted, setAttempted] = useState(false);
  const problems = useMemo(() => checkRemoteAccessForm(form, certificates), [form, certificates]);
  // The port's problem shows once Save was tried; the certificate's at once (its check is right below).
  const shown = {
    ...(attempted && problems.port ? { port: problems.port } : {}),
    ...(problems.certificate && (attempted || form.thumbprint) ? { certificate: problems.certificate } : {}),
  };

  const fieldRefs = useRef(new Map<RemoteAccessField, HTMLElement>());
  const initialFocus = useRef<HTMLInputElement | null>(null);
  const { progressRef, saveErrorRef } = useSaveFocus(saving, saveError);
  const introId = useId();

  const update = useCallback((patch: Partial<RemoteAccessForm>) => {
    setForm((current) => ({ ...current, ...patch }));
  }, []);

  const onSave = () => {
    setAttempted(true);
    const first = FIELDS.find((field) => problems[field]);
    if (first) {
      fieldRefs.current.get(first)?.focus();
      return;
    }
    const settings = settingsFromForm(form);
    if (settings) void save(settings);
  };

  return (
    <Modal
      title="Remote access from intranet"
      onClose={close}
      canClose={!saving}
      initialFocus={initialFocus}
      returnFocus={returnFocus}
      describedBy={introId}
      className="modal--form"
      footer={
        <>
          <Button onClick={close} disabled={saving}>
            Cancel
          </Button>
          <Button variant="primary" busy={saving} onClick={onSave}>
            Save
          </Button>
        </>
      }
    >
      <p id={introId} className="muted">
        Other nodes of this integration runtime use it for credential sync and health, and intranet clients to
        encrypt data store credentials on this node. A second node can join only while it is enabled.
      </p>
      <RemoteAccessFields
        form={form}
        onChange={update}
        problems={shown}
        disabled={saving}
        modes={REMOTE_ACCESS_MODES}
        legend="Remote access setting"
        fieldRefs={fieldRefs}
        initialFocus={initialFocus}
      />
      <DialogProgress
        progressRef={progressRef}
        text={saving ? 'Checking the certificate and applying the setting…' : null}
      />
      <ErrorSlot error={saveError} title="Remote access could not be changed." slotRef={saveErrorRef} />
    </Modal>
  );
}
