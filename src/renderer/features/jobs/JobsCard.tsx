import { useEffect, useId, useState, type FormEvent } from 'react';
import { MAX_CONCURRENT_JOBS_LIMIT } from '../../../shared/credentials';
import { TrashIcon } from '../../components/Icons';
import { Button, Card, Code, DoneLine, ErrorSlot, Field, LoadFailed, Loading } from '../../components/ui';
import type { UiError } from '../../errors';
import { useApp } from '../../store';

type Busy = 'limit' | 'default' | 'allow' | { remove: string } | null;

/** The limit as typed: a whole number from 1 to the maximum, or a problem in words. */
export function checkLimit(text: string): { limit: number } | { problem: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return { problem: 'Enter a whole number, such as 4.' };
  const limit = Number(trimmed);
  if (limit < 1 || limit > MAX_CONCURRENT_JOBS_LIMIT)
    return { problem: `Enter a number from 1 to ${MAX_CONCURRENT_JOBS_LIMIT}.` };
  return { limit };
}

/**
 * Settings → Jobs: the concurrent jobs limit (scale up) and local folder path validation (the
 * allow-list of folders jobs may read and write).
 */
export function JobsCard() {
  const { value: view, loadError } = useApp((s) => s.jobSettings);
  const refresh = useApp((s) => s.refreshJobSettings);
  const setLimit = useApp((s) => s.setConcurrentJobsLimit);
  const allowFolder = useApp((s) => s.allowFolder);
  const disallowFolder = useApp((s) => s.disallowFolder);

  const [limitText, setLimitText] = useState('');
  const [limitTouched, setLimitTouched] = useState(false);
  const [limitProblem, setLimitProblem] = useState<string | null>(null);
  const [folder, setFolder] = useState('');
  const [busy, setBusy] = useState<Busy>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<{ title: string; error: UiError } | null>(null);
  const ids = {
    limit: useId(),
    folder: useId(),
    folderHint: useId(),
    folders: useId(),
  };

  // The field shows the limit in force until the user types.
  const effective = view?.concurrentJobsLimit.effective;
  useEffect(() => {
    if (!limitTouched && effective !== undefined) setLimitText(String(effective));
  }, [effective, limitTouched]);

  const run = async (
    what: Busy,
    title: string,
    action: () => ReturnType<typeof setLimit>,
    done: string,
  ): Promise<boolean> => {
    setBusy(what);
    setNotice(null);
    setError(null);
    const outcome = await action();
    setBusy(null);
    if (outcome.ok) setNotice(done);
    else setError({ title, error: outcome.error });
    return outcome.ok;
  };

  const onSaveLimit = (event: FormEvent) => {
    event.preventDefault();
    const checked = checkLimit(limitText);
    if ('problem' in checked) {
      setLimitProblem(checked.problem);
      document.getElementById(ids.limit)?.focus();
      return;
    }
    setLimitProblem(null);
    void run(
      'limit',
      'The concurrent jobs limit could not be saved.',
      () => setLimit(checked.limit),
      `Concurrent jobs limit set to ${checked.limit}.`,
    ).then((ok) => ok && setLimitTouched(false));
  };

  const onUseDefault = () => {
    setLimitProblem(null);
    void run(
      'default',
      'The concurrent jobs limit could not be reset.',
      () => setLimit(null),
      'The concurrent jobs limit is back to the default for this machine.',
    ).then((ok) => ok && setLimitTouched(false));
  };

  const onAllow = (event: FormEvent) => {
    event.preventDefault();
    const path = folder.trim();
    if (!path) {
      setError({
        title: 'No folder to allow.',
        error: {
          code: 'INVALID_INPUT',
          message: 'Type the absolute path of a folder on this node.',
        },
      });
      document.getElementById(ids.folder)?.focus();
      return;
    }
    void run('allow', 'The folder could not be allowed.', () => allowFolder(path), `Allowed ${path}.`).then(
      (ok) => ok && setFolder(''),
    );
  };

  const limits = view?.concurrentJobsLimit;
  const pending = busy !== null;
  return (
    <Card title="Jobs" className="card--wide">
      {view && limits ? (
        <div className="jobs-settings">
          <form className="jobs-settings__limit" onSubmit={onSaveLimit} noValidate>
            <Field
              id={ids.limit}
              label="Concurrent jobs limit"
              hint={
                <>
                  In force: <strong>{limits.effective}</strong>{' '}
                  {limits.configured === null
                    ? `(the default for this machine, chosen from its cores and memory)`
                    : `(set here; the default for this machine is ${limits.default})`}
                  . The control plane sends this node at most this many jobs at once; more nodes in the
                  integration runtime scale out, a higher limit scales up.
                </>
              }
              problem={limitProblem}
            >
              {(control) => (
                <div className="inline-controls">
                  <input
                    {...control}
                    className="input input--number"
                    type="text"
                    inputMode="numeric"
                    autoComplete="off"
                    maxLength={3}
                    value={limitText}
                    disabled={pending}
                    onChange={(event) => {
                      setLimitTouched(true);
                      setLimitProblem(null);
                      setLimitText(event.target.value);
                    }}
                  />
                  <Button type="submit" variant="primary" busy={busy === 'limit'} disabled={pending}>
                    Save<span className="visually-hidden"> concurrent jobs limit</span>
                  </Button>
                  {limits.configured !== null ? (
                    <Button busy={busy === 'default'} disabled={pending} onClick={onUseDefault}>
                      Use default ({limits.default})
                    </Button>
                  ) : null}
                </div>
              )}
            </Field>
          </form>

          <div className="jobs-settings__folders">
            <h4 className="subpanel__title jobs-settings__title" id={ids.folders}>
              Local folder path validation
            </h4>
            <p className="muted small">
              As with the reference product&apos;s <Code text="`-EnableLocalFolderPathValidation`" />, this
              node refuses to read or write a local path outside the folders allowed here, so a job sent from
              the cloud cannot read this machine&apos;s own disk. It is on and cannot be turned off; with no
              folder allowed, no job may use a local path at all. Folders are stored as their real path (links
              resolved), and a job&apos;s path is checked the same way, so a link cannot lead outside. A{' '}
              <em>local folder</em> credential&apos;s root must be inside an allowed folder.
            </p>
            {view.allowedFolders.length === 0 ? (
              <p className="item-list__empty muted">
                No folder is allowed: jobs cannot read or write files on this node.
              </p>
            ) : (
              <ul className="folder-list" aria-labelledby={ids.folders}>
                {view.allowedFolders.map((path) => (
                  <li key={path} className="folder-list__item">
                    <span className="mono break">{path}</span>
                    <Button
                      variant="ghost"
                      icon={<TrashIcon size={16} />}
                      busy={typeof busy === 'object' && busy?.remove === path}
                      disabled={pending}
                      onClick={() =>
                        void run(
                          { remove: path },
                          'The folder could not be removed from the allow-list.',
                          () => disallowFolder(path),
                          `Jobs may no longer use ${path}.`,
                        )
                      }
                    >
                      Remove<span className="visually-hidden"> {path}</span>
                    </Button>
                  </li>
                ))}
              </ul>
            )}
            <form className="field" onSubmit={onAllow} noValidate>
              <label htmlFor={ids.folder} className="field__label">
                Folder to allow
              </label>
              <div className="inline-controls inline-controls--wrap">
                <input
                  id={ids.folder}
                  className="input input--mono"
                  type="text"
                  autoComplete="off"
                  autoCapitalize="off"
                  spellCheck={false}
                  maxLength={4096}
                  placeholder="/srv/exports"
                  value={folder}
                  disabled={pending}
                  aria-describedby={ids.folderHint}
                  onChange={(event) => setFolder(event.target.value)}
                />
                <Button type="submit" busy={busy === 'allow'} disabled={pending}>
                  Allow folder
                </Button>
              </div>
              <p id={ids.folderHint} className="field__hint">
                The absolute path of an existing folder on this node; jobs may then use it and everything
                under it.
              </p>
            </form>
          </div>
        </div>
      ) : loadError ? (
        <LoadFailed
          title="The job settings could not be loaded."
          error={loadError}
          onRetry={() => void refresh()}
        />
      ) : (
        <Loading text="Loading the job settings…" />
      )}
      <DoneLine text={notice} />
      <ErrorSlot error={error?.error ?? null} title={error?.title} />
    </Card>
  );
}
