import type { UiError } from '../errors';
import type { HostResource } from './resource';

/** A host setting changed through a dialog: open from where, the save under way, and its outcome. */
export interface SettingDialog<C> {
  /** The dialog is open while this is set: where it was opened from. */
  open: C | null;
  saving: boolean;
  saveError: UiError | null;
  /** Where the last successful save was made from, until the dialog opens again: that page confirms it. */
  saved: C | null;
}

export const CLOSED_DIALOG: SettingDialog<never> = {
  open: null,
  saving: false,
  saveError: null,
  saved: null,
};

export interface SettingDialogActions<C, V> {
  open(context: C): void;
  /** A save in progress finishes first: its result must be seen. */
  close(): void;
  /** Saves through the resource (its answer becomes the value) and closes the dialog on success. */
  save(run: () => Promise<V>): Promise<boolean>;
}

export function settingDialog<C, V>(
  resource: HostResource<V>,
  read: () => SettingDialog<C>,
  write: (patch: Partial<SettingDialog<C>>) => void,
): SettingDialogActions<C, V> {
  return {
    open(context) {
      write({ open: context, saveError: null, saved: null });
    },
    close() {
      if (read().saving) return;
      write({ open: null, saveError: null });
    },
    async save(run) {
      const { saving, open } = read();
      if (saving) return false;
      write({ saving: true, saveError: null });
      const outcome = await resource.apply(run);
      if (outcome.ok) {
        write({ saving: false, open: null, saved: open });
        return true;
      }
      write({ saving: false, saveError: outcome.error });
      // The setting may be saved even if applying it failed: show what the host has now.
      void resource.refresh();
      return false;
    },
  };
}
