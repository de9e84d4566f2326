import type { LogLevel } from '../../shared/contract';

/** Log levels carry their name as text; the colour only helps scanning. */
export function LevelBadge({ level }: { level: LogLevel }) {
  return <span className={`level level--${level}`}>{level}</span>;
}
