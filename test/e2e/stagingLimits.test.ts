import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  runControlPlaneCli,
  startControlPlane,
  stopAll as stopControlPlanes,
  type RunningControlPlane,
} from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * The control plane's staging area is a hand-over, not storage (security
 * review): one job may stage at most --staging-max-size, and a finished job's
 * output is deleted --staging-retention after it finished. A real control
 * plane (its sweep made fast with the test-only OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS)
 * and a real node.
 */
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];

describe('staging: per-job size limit and retention', () => {
  let cp: RunningControlPlane;
  const node = makeNode({}, 'staging-node');
  const root = tempDir('openir-staging-data-');
  const stagedFile = (id: string) => path.join(cp.dataDir, 'staging', id);
  const submit = (file: string) =>
    cp.adminOk<{ id: string }>([
      'job',
      'submit',
      '--ir',
      'staging-ir',
      '--source',
      `files:${file}`,
      '--sink',
      'staging',
    ]);

  beforeAll(async () => {
    fs.writeFileSync(path.join(root, 'small.bin'), randomBytes(200 * 1024));
    fs.writeFileSync(path.join(root, 'big.bin'), randomBytes(3 * 1024 * 1024));
    cp = await startControlPlane({
      extraArgs: ['--staging-max-size', '1M', '--staging-retention', '3s'],
      env: { OPENIR_CONTROL_PLANE_EXPIRY_SWEEP_MS: '250' },
    });
    const { key1 } = await cp.createIr('staging-ir');
    await node.startHost();
    const cli = async (args: string[], stdin?: string) => {
      const result = await node.cli([...args, '--json'], stdin);
      if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
      return result.json;
    };
    await cli(['config', 'allow-folder', root]);
    await cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', root]);
    expect(((await cli(['register', '--key-stdin'], key1)) as StatusJson).status).toBe('Online');
  }, 60_000);

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('a job past the size limit fails with STAGING_TOO_LARGE, at once, and leaves no part behind', async () => {
    const { id } = await submit('big.bin');
    const job = await cp.waitJob(id, (j) => FINAL.includes(j.state));
    expect(job.state).toBe('Failed');
    expect(job.reasonCode).toBe('STAGING_TOO_LARGE');
    expect(job.reason).toContain('--staging-max-size');
    expect(job.attempt).toBe(1);
    expect(fs.existsSync(stagedFile(id))).toBe(false);
    const left = fs.existsSync(path.join(cp.dataDir, 'staging'))
      ? fs.readdirSync(path.join(cp.dataDir, 'staging'))
      : [];
    expect(left.filter((f) => f.includes(id))).toEqual([]);
  });

  it('a finished output is kept within the retention, then deleted and logged', async () => {
    const { id } = await submit('small.bin');
    const job = await cp.waitJob(id, (j) => FINAL.includes(j.state));
    expect(job.state).toBe('Succeeded');
    expect(fs.statSync(stagedFile(id)).size).toBe(200 * 1024);
    const finishedAt = Date.parse(job.finishedAt ?? '');
    // Still there well inside the 3 s retention (sweeps run every 250 ms).
    await sleep(Math.max(0, finishedAt + 1500 - Date.now()));
    expect(fs.existsSync(stagedFile(id))).toBe(true);
    const deadline = Date.now() + 10_000;
    while (fs.existsSync(stagedFile(id)) && Date.now() < deadline) await sleep(100);
    expect(fs.existsSync(stagedFile(id))).toBe(false);
    expect(Date.now() - finishedAt).toBeGreaterThanOrEqual(3000);
    // The log line follows the deletion; it reaches this process through the server's stderr pipe.
    const logged = /Deleted the staged output of job/;
    while (!logged.test(cp.stderr()) && Date.now() < deadline) await sleep(100);
    expect(cp.stderr()).toMatch(
      new RegExp(
        `Deleted the staged output of job ${id}: finished \\d+s ago, past the staging retention of 3s`,
      ),
    );
  });

  it('refuses bad limits with the fix', async () => {
    const bad = await runControlPlaneCli([
      'serve',
      '--data',
      tempDir('openir-cp-bad-'),
      '--staging-retention',
      'soon',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--staging-retention must be a duration like 30m, 2h or 7d');
    const size = await runControlPlaneCli([
      'serve',
      '--data',
      tempDir('openir-cp-bad-'),
      '--staging-max-size',
      '12X',
    ]);
    expect(size.code).not.toBe(0);
    expect(size.stderr).toContain('--staging-max-size must be a size like 500M');
  });
});
