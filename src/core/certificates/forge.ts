import type Forge from 'node-forge';

let loaded: typeof Forge | undefined;

/**
 * node-forge costs about 10 MB of resident memory; it is loaded on first use
 * so a host that never touches a certificate (most idle nodes) never pays it.
 */
export function forge(): typeof Forge {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('node-forge') as typeof Forge;
  return loaded;
}
