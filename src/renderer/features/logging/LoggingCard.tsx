import { useEffect, useId, useState } from 'react';
import { LOG_LEVELS, type LogLevel } from '../../../shared/contract';
import { Callout, Card, ErrorDetails, Field, Spinner } from '../../components/ui';
import { useApp } from '../../store';

const LEVEL_HELP: Record<LogLevel, string> = {
  debug: 'Everything, including detail for troubleshooting. Verbose.',
  info: 'Normal operation: registration, connections, service changes.',
  warn: 'Only warnings and errors.',
  error: 'Only errors.',
};

/** Settings → Logging: the host's log level. */
export function LoggingCard() {
  const logLevel = useApp((s) => s.logLevel);
  const saving = useApp((s) => s.logLevelSaving);
  const error = useApp((s) => s.logLevelError);
  const setLogLevel = useApp((s) => s.setLogLevel);
  const selectId = useId();
  const [saved, setSaved] = useState<LogLevel | null>(null);

  useEffect(() => {
    if (!saved) return;
    const timer = setTimeout(() => setSaved(null), 4000);
    return () => clearTimeout(timer);
  }, [saved]);

  return (
    <Card title="Logging">
      <Field
        id={selectId}
        label="Log level"
        hint={
          <>
            The minimum level written to the log file and shown in Diagnostics.{' '}
            {logLevel ? LEVEL_HELP[logLevel] : null}
          </>
        }
        after={
          <>
            <p role="status" className="small status-line tone-ok">
              {saved && !error ? `Log level set to ${saved}.` : ''}
            </p>
            <div role="alert">
              {error ? (
                <Callout tone="error" title="The log level could not be changed.">
                  <ErrorDetails error={error} />
                </Callout>
              ) : null}
            </div>
          </>
        }
      >
        {(control) => (
          <div className="inline-controls">
            <select
              {...control}
              className="select"
              value={logLevel ?? ''}
              disabled={logLevel === null || saving}
              onChange={(event) => {
                const level = LOG_LEVELS.find((candidate) => candidate === event.target.value);
                if (!level) return;
                setSaved(null);
                void setLogLevel(level).then(() => setSaved(level));
              }}
            >
              {logLevel === null ? <option value="">Loading…</option> : null}
              {LOG_LEVELS.map((level) => (
                <option key={level} value={level}>
                  {level}
                </option>
              ))}
            </select>
            {saving ? <Spinner /> : null}
          </div>
        )}
      </Field>
    </Card>
  );
}
