import type { Slice } from './slice';

export type TabId = 'home' | 'settings' | 'diagnostics';

export interface UiSlice {
  tab: TabId;
  setTab(tab: TabId): void;
}

export const createUiSlice: Slice<UiSlice> = (set) => ({
  tab: 'home',
  setTab(tab) {
    set({ tab });
  },
});
