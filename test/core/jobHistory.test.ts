import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobHistory } from '../../src/core/jobHistory';

const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const assigned = (jobId: string, attempt = 1) =>
  ({
    type: 'jobAssigned',
    jobId,
    attempt,
    source: { credential: 'files', path: `${jobId}.bin` },
    sink: { type: 'staging' },
    format: 'raw',
  }) as const;

describe('JobHistory (the recent jobs pushed to the UI)', () => {
  afterEach(() => vi.useRealTimers());

  it('follows a job from Running to Succeeded, ignoring a resent assignment and a resent final report', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const history = new JobHistory({ onChange: () => undefined, clock: () => now });
    history.received(assigned('a'));
    history.received(assigned('a'));
    expect(history.recent).toHaveLength(1);
    expect(history.recent[0]).toMatchObject({ jobId: 'a', state: 'Running', bytes: 0, rows: null });
    history.sent({ type: 'jobProgress', jobId: 'a', bytes: 500, rows: 5, rate: 1000 });
    expect(history.recent[0]).toMatchObject({ bytes: 500, rows: 5, rate: 1000 });
    now += 2000;
    history.sent({ type: 'jobFinished', jobId: 'a', state: 'Succeeded', bytes: 4000, rows: 40, sha256: SHA });
    const done = history.recent[0];
    expect(done).toMatchObject({ state: 'Succeeded', bytes: 4000, rows: 40, rate: 2000, reason: null });
    expect(done?.finishedAt).toBe('2026-01-01T00:00:02.000Z');
    history.sent({ type: 'jobFinished', jobId: 'a', state: 'Failed', bytes: 1, sha256: SHA, reason: 'x' });
    expect(history.recent[0]?.state).toBe('Succeeded');
    // Re-queued and assigned here again: a new attempt is a new row, newest first.
    history.received(assigned('a', 2));
    expect(history.recent.map((job) => `${job.jobId}#${job.attempt}:${job.state}`)).toEqual([
      'a#2:Running',
      'a#1:Succeeded',
    ]);
  });

  it("keeps a job's latest retry note through later progress and its end", () => {
    const history = new JobHistory({ onChange: () => undefined });
    history.received(assigned('n'));
    expect(history.recent[0]?.note).toBeNull();
    const note = 'Resuming the copy at byte 1048576 (try 2 of 3), after: the connection was reset.';
    history.sent({ type: 'jobProgress', jobId: 'n', bytes: 10, rate: 5, note });
    history.sent({ type: 'jobProgress', jobId: 'n', bytes: 20, rate: 5 });
    expect(history.recent[0]).toMatchObject({ bytes: 20, note });
    history.sent({ type: 'jobFinished', jobId: 'n', state: 'Succeeded', bytes: 30, sha256: SHA });
    expect(history.recent[0]).toMatchObject({ state: 'Succeeded', note });
    // A new attempt starts without the old one's note.
    history.received(assigned('n', 2));
    expect(history.recent[0]?.note).toBeNull();
  });

  it('keeps every running job and the newest finished ones up to the cap', () => {
    const history = new JobHistory({ onChange: () => undefined, keep: 3 });
    for (const id of ['j1', 'j2', 'j3', 'j4']) {
      history.received(assigned(id));
      history.sent({ type: 'jobFinished', jobId: id, state: 'Failed', reason: 'no', bytes: 0, sha256: SHA });
    }
    expect(history.recent.map((job) => job.jobId)).toEqual(['j4', 'j3', 'j2']);
    for (const id of ['r1', 'r2', 'r3', 'r4']) history.received(assigned(id));
    expect(history.recent.map((job) => job.jobId)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect(history.recent[0]?.reason).toBeNull();
  });

  it('reports progress at most twice a second, the last figures included', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    const history = new JobHistory({ onChange });
    history.received(assigned('p'));
    history.reported();
    for (let i = 1; i <= 10; i += 1) {
      history.sent({ type: 'jobProgress', jobId: 'p', bytes: i * 100, rate: 1 });
      vi.advanceTimersByTime(100);
    }
    // 1 s of progress every 100 ms: two reports, the second with the newest figures.
    expect(onChange).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(1000);
    expect(onChange).toHaveBeenCalledTimes(2);
    expect(history.recent[0]?.bytes).toBe(1000);
    history.stop();
  });
});
