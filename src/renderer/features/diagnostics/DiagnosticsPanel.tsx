import {
  memo,
  useDeferredValue,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { LOG_LEVELS, type LogEntry, type LogLevel } from '../../../shared/contract';
import { CopyIcon, DownloadIcon, PauseIcon, PlayIcon, TrashIcon } from '../../components/Icons';
import { LevelBadge } from '../../components/LevelBadge';
import { Button, Callout, Card, ErrorDetails, Field } from '../../components/ui';
import { downloadText } from '../../files';
import { formatDateTime, formatTime } from '../../format';
import { atLeast, LOG_CAP, logsAsJsonLines, logsAsText, matchesSearch } from '../logging/logs';
import { useApp } from '../../store';
import { TroubleshootCard } from './TroubleshootCard';
import { DiagnosticsBundleCard } from './DiagnosticsBundleCard';

type Notice = { tone: 'ok' | 'error'; text: string } | null;

/** Entries have no id; their identity is stable for as long as the store holds them. */
const rowIds = new WeakMap<LogEntry, number>();
let nextRowId = 1;
function rowId(entry: LogEntry): number {
  let id = rowIds.get(entry);
  if (id === undefined) rowIds.set(entry, (id = nextRowId++));
  return id;
}

export function DiagnosticsPanel() {
  const entries = useApp((s) => s.entries);
  const held = useApp((s) => s.held);
  const paused = useApp((s) => s.paused);
  const setPaused = useApp((s) => s.setPaused);
  const clearLogView = useApp((s) => s.clearLogView);
  const hostLevel = useApp((s) => s.logLevel);
  const logsError = useApp((s) => s.logsError);

  const [minLevel, setMinLevel] = useState<LogLevel>('debug');
  const [search, setSearch] = useState('');
  const needle = useDeferredValue(search.trim());
  const [notice, setNotice] = useState<Notice>(null);
  const ids = { level: useId(), search: useId(), summary: useId() };

  const visible = useMemo(
    () => entries.filter((entry) => atLeast(entry, minLevel) && matchesSearch(entry, needle)),
    [entries, minLevel, needle],
  );

  useEffect(() => {
    if (!notice) return;
    const timer = setTimeout(() => setNotice(null), 5000);
    return () => clearTimeout(timer);
  }, [notice]);

  const copy = async () => {
    const text = logsAsText(visible);
    try {
      await copyText(text);
      setNotice({ tone: 'ok', text: `Copied ${countText(visible.length)} to the clipboard.` });
    } catch {
      setNotice({ tone: 'error', text: 'The clipboard is not available here. Use Export instead.' });
    }
  };

  const exportAs = (format: 'log' | 'jsonl') => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const name = `openir-${stamp}.${format}`;
    const body = format === 'log' ? logsAsText(visible) : logsAsJsonLines(visible);
    downloadText(name, body, format === 'log' ? 'text/plain' : 'application/x-ndjson');
    setNotice({ tone: 'ok', text: `Saved ${countText(visible.length)} as ${name}.` });
  };

  const filtered = minLevel !== 'debug' || needle !== '';

  return (
    <div className="page">
      <h2 className="visually-hidden">Diagnostics</h2>
      <TroubleshootCard />
      <DiagnosticsBundleCard />
      <Card title="Log viewer" className="card--logs">
        <div className="toolbar" role="group" aria-label="Log viewer controls">
          <div className="toolbar__filters">
            <Field id={ids.level} label="Minimum level" className="field--inline">
              {(control) => (
                <select
                  {...control}
                  className="select"
                  value={minLevel}
                  onChange={(event) =>
                    setMinLevel(LOG_LEVELS.find((l) => l === event.target.value) ?? 'debug')
                  }
                >
                  {LOG_LEVELS.map((level) => (
                    <option key={level} value={level}>
                      {level}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field id={ids.search} label="Search logs" className="field--inline field--grow">
              {(control) => (
                <input
                  {...control}
                  className="input"
                  type="search"
                  value={search}
                  placeholder="Text in message, source or fields"
                  onChange={(event) => setSearch(event.target.value)}
                  autoComplete="off"
                  spellCheck={false}
                />
              )}
            </Field>
          </div>
          <div className="toolbar__actions">
            <Button
              icon={paused ? <PlayIcon size={18} /> : <PauseIcon size={18} />}
              aria-pressed={paused}
              onClick={() => setPaused(!paused)}
            >
              {paused ? `Resume${held.length > 0 ? ` (${held.length} new)` : ''}` : 'Pause'}
            </Button>
            <Button icon={<CopyIcon size={18} />} onClick={() => void copy()} disabled={visible.length === 0}>
              Copy
            </Button>
            <Button
              icon={<DownloadIcon size={18} />}
              onClick={() => exportAs('log')}
              disabled={visible.length === 0}
            >
              Export .log
            </Button>
            <Button
              icon={<DownloadIcon size={18} />}
              onClick={() => exportAs('jsonl')}
              disabled={visible.length === 0}
            >
              Export .jsonl
            </Button>
            <Button
              variant="ghost"
              icon={<TrashIcon size={18} />}
              onClick={clearLogView}
              disabled={entries.length === 0}
            >
              Clear view
            </Button>
          </div>
        </div>

        <div className="log-summary">
          <p id={ids.summary} className="small muted">
            {filtered
              ? `Showing ${visible.length} of ${countText(entries.length)}`
              : `Showing ${countText(entries.length)}`}
            {entries.length >= LOG_CAP ? ` (the newest ${LOG_CAP} are kept)` : ''}.
            {hostLevel ? ` The host writes ${hostLevel} and above; change it in Settings.` : ''}
          </p>
          {paused ? (
            <p className="pill pill--warn small">
              <PauseIcon size={14} />
              Paused{held.length > 0 ? `: ${countText(held.length)} waiting` : ''}
            </p>
          ) : (
            <p className="pill pill--ok small">
              <span className="live-dot" aria-hidden="true" />
              Live
            </p>
          )}
          <p
            role="status"
            className={`small status-line ${notice?.tone === 'error' ? 'tone-bad' : 'tone-ok'}`}
          >
            {notice?.text ?? ''}
          </p>
        </div>

        {logsError ? (
          <Callout tone="error" title="The log could not be loaded.">
            <ErrorDetails error={logsError} />
          </Callout>
        ) : null}

        <LogList entries={visible} needle={needle} describedBy={ids.summary} paused={paused} />
      </Card>
    </div>
  );
}

function LogList({
  entries,
  needle,
  describedBy,
  paused,
}: {
  entries: LogEntry[];
  needle: string;
  describedBy: string;
  paused: boolean;
}) {
  const ref = useRef<HTMLElement>(null);
  // Follow the newest entry only while the reader is at the bottom, like a terminal.
  const stick = useRef(true);

  useLayoutEffect(() => {
    const element = ref.current;
    if (element && stick.current && !paused) element.scrollTop = element.scrollHeight;
  }, [entries, paused]);

  return (
    <section
      ref={ref}
      className="log-view"
      aria-label="Log entries"
      aria-describedby={describedBy}
      tabIndex={0}
      onScroll={(event) => {
        const element = event.currentTarget;
        stick.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
      }}
    >
      {entries.length === 0 ? (
        <p className="log-view__empty muted">No log entries match.</p>
      ) : (
        <ol className="log-lines">
          {entries.map((entry) => (
            <LogRow key={rowId(entry)} entry={entry} needle={needle} />
          ))}
        </ol>
      )}
    </section>
  );
}

const LogRow = memo(function LogRow({ entry, needle }: { entry: LogEntry; needle: string }) {
  const fields = entry.fields && Object.keys(entry.fields).length > 0 ? JSON.stringify(entry.fields) : null;
  return (
    <li className={`log-line log-line--${entry.level}`}>
      <time className="log-line__time" dateTime={entry.time} title={formatDateTime(entry.time)}>
        {formatTime(entry.time)}
      </time>
      <LevelBadge level={entry.level} />
      <span className="log-line__source">{entry.source}</span>
      <span className="log-line__message">
        <Highlight text={entry.message} needle={needle} />
        {fields ? (
          <span className="log-line__fields">
            {' '}
            <Highlight text={fields} needle={needle} />
          </span>
        ) : null}
      </span>
    </li>
  );
});

function Highlight({ text, needle }: { text: string; needle: string }) {
  if (needle === '') return <>{text}</>;
  const lower = text.toLowerCase();
  const target = needle.toLowerCase();
  const parts: ReactNode[] = [];
  let from = 0;
  for (let at = lower.indexOf(target); at !== -1; at = lower.indexOf(target, from)) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(<mark key={at}>{text.slice(at, at + target.length)}</mark>);
    from = at + target.length;
  }
  if (from < text.length) parts.push(text.slice(from));
  return <>{parts}</>;
}

function countText(count: number): string {
  return count === 1 ? '1 entry' : `${count} entries`;
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // No async clipboard (insecure origin, or a permission handler that refuses it, as the desktop
    // app's does): the selection-based copy still works inside a user gesture.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}
