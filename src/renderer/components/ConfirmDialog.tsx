import { useId, useRef, type ReactNode, type RefObject } from 'react';
import { Modal } from './Modal';
import { Button } from './ui';

/**
 * Asks before an action that changes or deletes something: an alert dialog
 * whose Cancel has the focus (Enter does not confirm by accident) and whose
 * text is the dialog's accessible description.
 */
export function ConfirmDialog({
  title,
  confirmLabel,
  confirmIcon,
  variant = 'danger',
  onConfirm,
  onCancel,
  returnFocus,
  children,
}: {
  title: string;
  confirmLabel: string;
  confirmIcon: ReactNode;
  variant?: 'primary' | 'danger';
  onConfirm: () => void;
  onCancel: () => void;
  /** Where focus goes back when the element that opened the dialog is gone. */
  returnFocus?: RefObject<HTMLElement | null>;
  children: ReactNode;
}) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  const textId = useId();
  return (
    <Modal
      role="alertdialog"
      title={title}
      onClose={onCancel}
      initialFocus={cancelRef}
      describedBy={textId}
      className="modal--confirm"
      showClose={false}
      returnFocus={returnFocus}
      footer={
        <>
          <Button ref={cancelRef} onClick={onCancel}>
            Cancel
          </Button>
          <Button variant={variant} icon={confirmIcon} onClick={onConfirm}>
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div id={textId} className="stack">
        {children}
      </div>
    </Modal>
  );
}
