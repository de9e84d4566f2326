import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { CopyEnds, OpenedSink } from '../../src/core/jobs/copyEnds';
import { JobRunner } from '../../src/core/jobs/jobRunner';
import { Logger, Redactor } from '../../src/core/logger';
import type { ControlPlaneMessage, NodeMessage } from '../../src/shared/controlPlaneApi';

/**
 * The job runner's side of a failover race: the control plane re-queued a job
 * while this node was unreachable, then (on its reconnect) told it to stop the
 * stale run and gave the job back to it in the same breath. The stale run's
 * "Cancelled" must not end the new attempt; a real cancel still cancels.
 */

const JOB = '0c864bfb-ed1c-4506-b11f-a8f09b464c7e';
const CHUNKS = 20;

/** A source of CHUNKS chunks, 10 ms apart (long enough to cancel mid-copy); a sink that collects them. */
function slowEnds(collected: Buffer[][]): CopyEnds {
  return {
    openSource: async (_source, signal) => ({
      stream: Readable.from(
        (async function* () {
          for (let i = 0; i < CHUNKS; i += 1) {
            await sleep(10, undefined, { signal });
            yield Buffer.from([i]);
          }
        })(),
      ),
      offset: 0,
    }),
    openSink: async (): Promise<OpenedSink> => {
      const chunks: Buffer[] = [];
      return {
        held: async () => 0,
        open: () =>
          new Writable({
            write(chunk: Buffer, _encoding, callback) {
              chunks.push(chunk);
              callback();
            },
          }),
        commit: async () => void collected.push(chunks),
        abort: async () => undefined,
        refusal: async () => null,
      };
    },
  };
}

function runner() {
  const sent: NodeMessage[] = [];
  const collected: Buffer[][] = [];
  const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('jobs');
  const jobs = new JobRunner({
    ends: slowEnds(collected),
    log,
    send: (message) => (sent.push(message), true),
    onChange: () => undefined,
  });
  const assign = (attempt: number): ControlPlaneMessage => ({
    type: 'jobAssigned',
    jobId: JOB,
    attempt,
    source: { credential: 'web', path: 'slow' },
    sink: { type: 'staging' },
    format: 'raw',
  });
  const finished = async () => {
    for (let i = 0; i < 200 && jobs.running > 0; i += 1) await sleep(10);
    return sent.filter((m) => m.type === 'jobFinished');
  };
  return { jobs, sent, collected, assign, finished };
}

describe('JobRunner: a job given back to the node that is stopping its stale run', () => {
  it('runs the new attempt after the stale run stops, and reports only the new attempt', async () => {
    const { jobs, sent, collected, assign, finished } = runner();
    jobs.handle(assign(1));
    await sleep(50);
    // What nodeReady sends: stop the run that is no longer yours, then the job again.
    jobs.handle({ type: 'jobCancel', jobId: JOB });
    jobs.handle(assign(3));
    const reports = await finished();
    expect(reports).toEqual([expect.objectContaining({ state: 'Succeeded', bytes: CHUNKS })]);
    expect(sent.filter((m) => m.type === 'jobAccepted').map((m) => m.attempt)).toEqual([1, 3]);
    // The new attempt copied everything, from the start.
    expect(Buffer.concat(collected.at(-1) ?? [])).toEqual(
      Buffer.from(Array.from({ length: CHUNKS }, (_, i) => i)),
    );
  });

  it('a cancel after the job came back cancels it: one Cancelled, nothing started again', async () => {
    const { jobs, sent, assign, finished } = runner();
    jobs.handle(assign(1));
    await sleep(50);
    jobs.handle({ type: 'jobCancel', jobId: JOB });
    jobs.handle(assign(3));
    jobs.handle({ type: 'jobCancel', jobId: JOB });
    const reports = await finished();
    expect(reports).toEqual([expect.objectContaining({ state: 'Cancelled' })]);
    expect(sent.filter((m) => m.type === 'jobAccepted').map((m) => m.attempt)).toEqual([1]);
  });

  it('the same assignment while the job runs (a resend) is acknowledged, not run twice', async () => {
    const { jobs, sent, collected, assign, finished } = runner();
    jobs.handle(assign(1));
    await sleep(30);
    jobs.handle(assign(1));
    expect(jobs.running).toBe(1);
    const reports = await finished();
    expect(reports).toEqual([expect.objectContaining({ state: 'Succeeded', bytes: CHUNKS })]);
    expect(collected).toHaveLength(1);
    expect(sent.filter((m) => m.type === 'jobAccepted').map((m) => m.attempt)).toEqual([1, 1]);
  });
});

describe('JobRunner: its own concurrent jobs limit (security review)', () => {
  it('refuses an assignment past the limit, after a heartbeat with the limit, and runs the ones within it', async () => {
    const sent: (NodeMessage | { type: 'heartbeatNow' })[] = [];
    const collected: Buffer[][] = [];
    const log = new Logger({ file: null, level: 'error', redactor: new Redactor() }).child('jobs');
    let limit = 1;
    const jobs = new JobRunner({
      ends: slowEnds(collected),
      log,
      send: (message) => (sent.push(message), true),
      onChange: () => undefined,
      limit: () => limit,
      heartbeatNow: () => void sent.push({ type: 'heartbeatNow' }),
    });
    const assign = (jobId: string): ControlPlaneMessage => ({
      type: 'jobAssigned',
      jobId,
      attempt: 1,
      source: { credential: 'web', path: 'slow' },
      sink: { type: 'staging' },
      format: 'raw',
    });
    const second = '1d6f0e1e-7d0e-4f43-9b8a-5a0e3c1f2b11';
    jobs.handle(assign(JOB));
    jobs.handle(assign(second));
    expect(jobs.running).toBe(1);
    const types = sent.map((m) => m.type);
    expect(types).toContain('jobRefused');
    // The control plane hears the real limit before the refusal, so it does not send the job straight back.
    expect(types.indexOf('heartbeatNow')).toBeLessThan(types.indexOf('jobRefused'));
    expect(sent.find((m) => m.type === 'jobRefused')).toMatchObject({ jobId: second, attempt: 1 });
    // The one within the limit runs to the end.
    for (let i = 0; i < 200 && jobs.running > 0; i += 1) await sleep(10);
    expect(sent.filter((m) => m.type === 'jobFinished')).toEqual([
      expect.objectContaining({ jobId: JOB, state: 'Succeeded' }),
    ]);
    // With room again (or a higher limit), the next assignment runs.
    limit = 2;
    jobs.handle(assign(second));
    expect(jobs.running).toBe(1);
    for (let i = 0; i < 200 && jobs.running > 0; i += 1) await sleep(10);
    expect(collected).toHaveLength(2);
  });
});
