import type { SystemSample } from '../../shared/contract';
import type { Slice } from './slice';

export interface SystemSlice {
  /** Live CPU and memory; `statusChanged` payloads carry no sample, so this is kept apart from `report`. */
  system: SystemSample | null;
  /** A pushed `systemSampled`. */
  receiveSystem(system: SystemSample): void;
}

export const createSystemSlice: Slice<SystemSlice> = (set) => ({
  system: null,
  receiveSystem(system) {
    set({ system });
  },
});
