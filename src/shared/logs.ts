import { z } from 'zod';

/** The host's log as the contract carries it (`getLogs`, `setLogLevel`, the `log` event). */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LogLevelSchema = z.enum(LOG_LEVELS);
export type LogLevel = z.infer<typeof LogLevelSchema>;

export const LogEntrySchema = z.object({
  time: z.string(),
  level: LogLevelSchema,
  source: z.string(),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type LogEntry = z.infer<typeof LogEntrySchema>;

export const GetLogsInputSchema = z
  .object({ limit: z.number().int().min(1).max(5000).optional(), minLevel: LogLevelSchema.optional() })
  .strict();

/** Recent entries, newest last, and the level the log writes at now. */
export const LogsViewSchema = z.object({ entries: z.array(LogEntrySchema), level: LogLevelSchema });
export type LogsView = z.infer<typeof LogsViewSchema>;

export const SetLogLevelInputSchema = z.object({ level: LogLevelSchema }).strict();
export const LogLevelViewSchema = z.object({ level: LogLevelSchema });
