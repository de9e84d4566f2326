import type { StateCreator } from 'zustand';

/**
 * A slice of the one store: it creates `T` and may read and write the slices it names in `Needs`, so a
 * slice never depends on the whole app state (nor on the file that puts the slices together).
 */
export type Slice<T, Needs = unknown> = StateCreator<T & Needs, [], [], T>;
