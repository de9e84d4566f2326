import fs from 'node:fs';
import path from 'node:path';
import { redactAuthKeys } from '../shared/authKey';
import { LOG_LEVELS, type LogEntry, type LogLevel } from '../shared/contract';

const SECRET_FIELD = /secret|password|credential|token|authkey|authorization|private/i;
const REDACTED = '[REDACTED]';

/**
 * Knows every secret the node holds in memory and scrubs them from anything
 * on its way to a log, an error message or a diagnostics bundle.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(secret: string): void {
    // Very short values would redact ordinary words; real secrets here are long random strings.
    if (secret.length >= 8) this.secrets.add(secret);
  }

  /** The secrets seen so far (the diagnostics bundle scans for each). */
  known(): string[] {
    return [...this.secrets];
  }

  text(input: string): string {
    let out = redactAuthKeys(input);
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  value(input: unknown, key = ''): unknown {
    if (SECRET_FIELD.test(key) && input !== undefined && input !== null) return REDACTED;
    if (typeof input === 'string') return this.text(input);
    if (Array.isArray(input)) return input.map((item) => this.value(item));
    if (input instanceof Error) return this.text(`${input.name}: ${input.message}`);
    if (input && typeof input === 'object') {
      return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, this.value(v, k)]));
    }
    return input;
  }
}

export type LogListener = (entry: LogEntry) => void;

export interface LoggerOptions {
  file: string | null;
  level: LogLevel;
  redactor: Redactor;
  /** Rotate when the file grows past this many bytes (one previous file is kept). */
  maxBytes?: number;
  ringSize?: number;
  clock?: () => Date;
  /** Also echo entries to stderr (foreground `openir serve`). */
  echo?: boolean;
}

/** Structured JSON-lines log with levels, redaction, rotation and an in-memory tail for the UI. */
export class Logger {
  private level: LogLevel;
  private readonly ring: LogEntry[] = [];
  private readonly listeners = new Set<LogListener>();
  private written = 0;

  constructor(private readonly options: LoggerOptions) {
    this.level = options.level;
    if (options.file) {
      fs.mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
      try {
        this.written = fs.statSync(options.file).size;
      } catch {
        this.written = 0;
      }
    }
  }

  get minLevel(): LogLevel {
    return this.level;
  }

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  child(source: string): SourceLogger {
    return new SourceLogger(this, source);
  }

  onEntry(listener: LogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tail(limit: number, minLevel: LogLevel = 'debug'): LogEntry[] {
    const floor = LOG_LEVELS.indexOf(minLevel);
    return this.ring.filter((e) => LOG_LEVELS.indexOf(e.level) >= floor).slice(-limit);
  }

  write(level: LogLevel, source: string, message: string, fields?: Record<string, unknown>): void {
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(this.level)) return;
    const { redactor } = this.options;
    const entry: LogEntry = {
      time: (this.options.clock ?? (() => new Date()))().toISOString(),
      level,
      source,
      message: redactor.text(message),
      ...(fields ? { fields: redactor.value(fields) as Record<string, unknown> } : {}),
    };
    this.ring.push(entry);
    if (this.ring.length > (this.options.ringSize ?? 2000)) this.ring.shift();
    const line = `${JSON.stringify(entry)}\n`;
    if (this.options.file) this.append(this.options.file, line);
    if (this.options.echo)
      process.stderr.write(`${entry.time} ${level.toUpperCase()} [${source}] ${entry.message}\n`);
    for (const listener of this.listeners) listener(entry);
  }

  private append(file: string, line: string): void {
    try {
      if (this.written + line.length > (this.options.maxBytes ?? 5 * 1024 * 1024)) {
        fs.renameSync(file, `${file}.1`);
        this.written = 0;
      }
      fs.appendFileSync(file, line, { mode: 0o600 });
      this.written += Buffer.byteLength(line);
    } catch {
      // A full disk must not take the node down; the entry still reaches the in-memory tail and listeners.
    }
  }
}

export class SourceLogger {
  constructor(
    private readonly logger: Logger,
    private readonly source: string,
  ) {}
  debug(message: string, fields?: Record<string, unknown>): void {
    this.logger.write('debug', this.source, message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.write('info', this.source, message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.write('warn', this.source, message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.write('error', this.source, message, fields);
  }
}
