import type { OpenIrApi } from '../shared/api';

declare global {
  interface Window {
    /** Exposed by the Electron preload; absent when the UI is served by `openir serve`. */
    readonly openir?: OpenIrApi;
  }
}

export {};
