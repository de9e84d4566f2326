import path from 'node:path';
import { ConfigStore } from '../../src/core/config';
import { Connector } from '../../src/core/connector';
import { Logger, Redactor } from '../../src/core/logger';
import { environmentProxyResolver, resolveRoute } from '../../src/core/proxyRoute';
import { FileVault } from '../../src/core/vault';
import { tempDir } from './tmp';

/**
 * The real parts a core service is built from, on a fresh temp dir: config
 * store, file vault, logger (read back with `logger.tail`), redactor, and a
 * direct connector (no proxy, whatever the environment says).
 */
export function coreParts(prefix = 'openir-core-') {
  const home = tempDir(prefix);
  const redactor = new Redactor();
  const logger = new Logger({ file: path.join(home, 'logs', 'openir.log'), level: 'debug', redactor });
  const connector = new Connector((target) =>
    resolveRoute({ mode: 'none' }, null, target, environmentProxyResolver({})),
  );
  return {
    home,
    config: new ConfigStore(path.join(home, 'config.json')),
    vault: new FileVault(path.join(home, 'vault')),
    logger,
    log: logger.child('host'),
    redactor,
    connector: () => connector,
    /** The messages logged so far, oldest first. */
    messages: () => logger.tail(1000, 'debug').map((entry) => entry.message),
  };
}
