import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { JobService } from '../../src/core/jobs/jobService';
import type { NodeMessage } from '../../src/shared/controlPlaneApi';
import type { JobSettingsView } from '../../src/shared/credentials';
import type { JobsView } from '../../src/shared/jobs';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

/** A job service on a real config, credential store and temp folders; what it pushes and sends is kept. */
function service() {
  const parts = coreParts('openir-jobsvc-');
  const credentials = new CredentialStore({ dataDir: parts.home, vault: parts.vault });
  const seen = {
    settings: [] as JobSettingsView[],
    jobs: [] as JobsView[],
    sent: [] as NodeMessage[],
    heartbeats: 0,
    statusChanges: 0,
  };
  const jobs = new JobService({
    ...parts,
    credentials,
    registration: () => null,
    nodeCredential: async () => null,
    send: (message) => {
      seen.sent.push(message);
      return true;
    },
    heartbeatNow: () => seen.heartbeats++,
    statusChanged: () => seen.statusChanges++,
    pushJobs: (view) => seen.jobs.push(view),
    pushSettings: (view) => seen.settings.push(view),
    jobsLog: parts.logger.child('jobs'),
    defaultLimit: 3,
    retry: { attempts: 1 },
  });
  return { ...parts, credentials, seen, jobs };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('job service', () => {
  it('pushes jobSettingsChanged with getJobSettings’s answer on load, allow, disallow and limit, and only on a change', async () => {
    const s = service();
    const folder = tempDir('openir-allowed-');
    await s.jobs.load({ allowedFolders: [], concurrentJobsLimit: null });
    expect(s.seen.settings).toEqual([
      { allowedFolders: [], concurrentJobsLimit: { effective: 3, configured: null, default: 3 } },
    ]);
    const allowed = await s.jobs.allowFolder({ path: folder });
    expect(allowed.allowedFolders).toEqual([fs.realpathSync(folder)]);
    expect(s.seen.settings.at(-1)).toEqual(allowed);
    await s.jobs.allowFolder({ path: folder });
    expect(s.seen.settings).toHaveLength(2);
    const limited = await s.jobs.setConcurrentJobsLimit({ limit: 5 });
    expect(limited.concurrentJobsLimit).toEqual({ effective: 5, configured: 5, default: 3 });
    expect(s.seen.settings.at(-1)).toEqual(limited);
    const removed = await s.jobs.disallowFolder({ path: folder });
    expect(removed.allowedFolders).toEqual([]);
    expect(s.seen.settings.at(-1)).toEqual(removed);
    expect(s.seen.settings).toHaveLength(4);
    expect(s.jobs.settingsView()).toEqual(removed);
    expect((await s.config.load()).jobs).toEqual({ allowedFolders: [], concurrentJobsLimit: 5 });
  });

  it('a new limit is told to the control plane, the status and jobsChanged at once', async () => {
    const s = service();
    await s.jobs.load({ allowedFolders: [], concurrentJobsLimit: null });
    expect(s.seen.jobs.at(-1)).toMatchObject({ running: 0, limit: 3 });
    await s.jobs.setConcurrentJobsLimit({ limit: 8 });
    expect(s.seen.heartbeats).toBe(1);
    expect(s.seen.statusChanges).toBe(1);
    expect(s.seen.jobs.at(-1)).toEqual({ running: 0, limit: 8, recent: [] });
    expect(s.jobs.limit).toBe(8);
    expect(s.messages()).toContain('Concurrent jobs limit set.');
  });

  it('refuses folders it cannot allow, and one that is not on the list', async () => {
    const s = service();
    await s.jobs.load({ allowedFolders: [], concurrentJobsLimit: null });
    await expect(s.jobs.allowFolder({ path: 'relative/dir' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(s.jobs.allowFolder({ path: '/no/such/folder/here' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(s.jobs.disallowFolder({ path: tempDir() })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('is not on the allow-list'),
    });
    // Nothing changed, so nothing was pushed after the load.
    expect(s.seen.settings).toHaveLength(1);
  });

  it('runs a job the control plane sends: reads and writes under allowed folders, reports it, shows it', async () => {
    const s = service();
    const folder = fs.realpathSync(tempDir('openir-jobdata-'));
    fs.writeFileSync(path.join(folder, 'in.csv'), 'a,b\n1,2\n');
    await s.credentials.set({ name: 'files', type: 'localFolder', root: folder });
    await s.jobs.load({ allowedFolders: [folder], concurrentJobsLimit: null });
    s.jobs.received({
      type: 'jobAssigned',
      jobId: 'job-1',
      attempt: 1,
      source: { credential: 'files', path: 'in.csv' },
      sink: { type: 'credential', credential: 'files', path: 'out/copy.csv' },
      format: 'csv',
    });
    expect(s.jobs.running).toBe(1);
    expect(s.jobs.activeJobIds).toEqual(['job-1']);
    await until(() => s.seen.sent.some((m) => m.type === 'jobFinished'));
    expect(s.seen.sent.find((m) => m.type === 'jobFinished')).toMatchObject({
      jobId: 'job-1',
      state: 'Succeeded',
      bytes: 8,
    });
    expect(fs.readFileSync(path.join(folder, 'out', 'copy.csv'), 'utf8')).toBe('a,b\n1,2\n');
    await until(() => s.seen.jobs.at(-1)?.recent[0]?.state === 'Succeeded');
    expect(s.seen.jobs.at(-1)).toMatchObject({ running: 0, recent: [{ jobId: 'job-1', rows: 1 }] });
    expect(s.seen.statusChanges).toBeGreaterThanOrEqual(2);
  });

  it('an unregistered node cannot upload to staging: the job fails with the reason', async () => {
    const s = service();
    const folder = fs.realpathSync(tempDir('openir-jobdata-'));
    fs.writeFileSync(path.join(folder, 'in.bin'), 'x');
    await s.credentials.set({ name: 'files', type: 'localFolder', root: folder });
    await s.jobs.load({ allowedFolders: [folder], concurrentJobsLimit: null });
    s.jobs.received({
      type: 'jobAssigned',
      jobId: 'job-2',
      attempt: 1,
      source: { credential: 'files', path: 'in.bin' },
      sink: { type: 'staging' },
      format: 'raw',
    });
    await until(() => s.seen.sent.some((m) => m.type === 'jobFinished'));
    const finished = s.seen.sent.find((m) => m.type === 'jobFinished');
    expect(finished).toMatchObject({ state: 'Failed' });
    expect(JSON.stringify(finished)).toContain('not registered');
  });
});
