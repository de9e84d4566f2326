/**
 * One line per event on stderr, so stdout stays free for the `--json` document.
 * Callers never pass secrets: auth keys, credentials and request bodies stay out of messages.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function streamLogger(write: (line: string) => void, clock: () => number = Date.now): Logger {
  const line = (level: string, message: string) =>
    write(`${new Date(clock()).toISOString()} ${level} ${message.replace(/[\r\n]+/g, ' ')}\n`);
  return {
    info: (message) => line('INFO', message),
    warn: (message) => line('WARN', message),
    error: (message) => line('ERROR', message),
  };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
