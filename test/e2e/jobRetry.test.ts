import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { startCuttingRelay, type CuttingRelay } from '../helpers/cuttingRelay';
import { startDataServer } from '../helpers/dataServer';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import {
  findPostgresBin,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
  postgresCredentialArgs,
} from '../helpers/postgres';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';

/**
 * Retry and resume of a copy, all real processes: an HTTP data store that
 * drops a connection or answers 503 once, and a TCP relay in front of the
 * control plane (its public endpoint) that cuts the staging upload once,
 * mid-body. The copies must end Succeeded, byte-exact, having resumed where
 * the ends allowed; a refusal (401) must fail at once, without a retry.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];

describe('jobs: retry and resume on transient failures', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let cpPort = 0;
  let relay: CuttingRelay;
  const node = makeNode({}, 'retry-node');
  const dataRoot = tempDir('openir-retry-data-');
  const local = randomBytes(8 * 1024 * 1024 + 321);
  // Big enough that what the control plane holds at the drop (half, less what the node still buffers) passes a 1 MiB checkpoint.
  const flaky = randomBytes(24 * 1024 * 1024 + 55);
  const data = startDataServer({ token: TOKEN, slowData: Buffer.alloc(0), flaky });

  const admin = async <T>(args: string[]): Promise<T> => {
    const result = await cp.admin<T>(args);
    if (result.code !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
    return result.json;
  };
  const submit = (source: string) =>
    admin<JobJson>(['job', 'submit', '--ir', 'retry-ir', '--source', source, '--sink', 'staging']);
  const finished = async (id: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await admin<JobJson>(['job', 'show', id]);
      if (FINAL.includes(job.state)) return job;
      if (Date.now() > deadline) throw new Error(`job never finished; last: ${JSON.stringify(job)}`);
      await sleep(100);
    }
  };
  const staged = (id: string) => fs.readFileSync(path.join(cp.dataDir, 'staging', id));
  const requestsFor = (url: string) => data.requests.filter((r) => r.url === url);
  const retryLines = () => node.output().match(/retrying \(try \d of \d\)/g) ?? [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    const webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    fs.writeFileSync(path.join(dataRoot, 'local.bin'), local);
    relay = await startCuttingRelay(() => cpPort);
    cp = await startControlPlane({ extraArgs: ['--public-endpoint', `https://127.0.0.1:${relay.port}`] });
    cpPort = cp.port;
    const key = (await admin<{ key1: string }>(['ir', 'create', 'retry-ir'])).key1;
    await node.startHost();
    const cli = async (args: string[], stdin?: string) => {
      const result = await node.cli([...args, '--json'], stdin);
      if (result.code !== 0) throw new Error(`openir ${args.join(' ')}: ${result.stderr}${result.stdout}`);
      return result.json;
    };
    await cli(['config', 'allow-folder', dataRoot]);
    await cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
    await cli(
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
      `${TOKEN}\n`,
    );
    await cli(
      ['credential', 'set', 'badweb', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
      'not-the-token\n',
    );
    const status = (await cli(['register', '--key-stdin'], key)) as StatusJson;
    expect(status.status).toBe('Online');
  });

  afterAll(async () => {
    relay.close();
    data.server.closeAllConnections();
    data.server.close();
    await stopAllNodes();
    await stopControlPlanes();
    await stopAllPostgres();
    cleanupTempDirs();
  });

  it('resumes an HTTP source with Range after the data store drops the connection mid-body', async () => {
    const before = retryLines().length;
    const submitted = await submit('web:flaky/drop-once/a.bin');
    const job = await finished(submitted.id);
    expect(job).toMatchObject({ state: 'Succeeded', attempt: 1, sha256: sha256(flaky) });
    expect(sha256(staged(submitted.id))).toBe(sha256(flaky));
    expect(job.staging).toEqual({ bytes: flaky.length, sha256: sha256(flaky) });
    // Two GETs: the whole document, then the rest from a byte the control plane already held.
    const requests = requestsFor('/flaky/drop-once/a.bin');
    expect(requests).toHaveLength(2);
    expect(requests[0]?.range).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]?.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(flaky.length / 2);
    expect(retryLines().length).toBe(before + 1);
    expect(node.output()).toContain('retrying (try 2 of 3)');
    expect(node.output()).toContain(`Resuming the copy at byte ${resumedAt} (try 2 of 3)`);
    expect(cp.stderr()).toContain(`(resumed at byte ${resumedAt})`);
    // The node's progress reports said so too: `job show` tells what the copy went through.
    expect(job.note).toMatch(
      new RegExp(`^Resuming the copy at byte ${resumedAt} \\(try 2 of 3\\), after: .+\\.$`),
    );
  });

  it('retries an HTTP 503 from the data store, then copies byte-exact', async () => {
    const submitted = await submit('web:flaky/busy-once/b.bin');
    const job = await finished(submitted.id);
    expect(job).toMatchObject({ state: 'Succeeded', sha256: sha256(flaky) });
    expect(sha256(staged(submitted.id))).toBe(sha256(flaky));
    expect(requestsFor('/flaky/busy-once/b.bin')).toHaveLength(2);
  });

  it('resumes the staging upload at the offset the control plane kept after the connection is cut', async () => {
    // The relay cuts the connection that carries the upload once 3 MB have gone up (after a pause
    // in which the control plane takes in what crossed, so it has kept some of it to resume from).
    const logFrom = node.output().length;
    relay.arm(3 * 1024 * 1024, { perConnection: true, settleMs: 500 });
    const submitted = await submit('files:local.bin');
    const job = await finished(submitted.id);
    expect(relay.cuts()).toBe(1);
    expect(job).toMatchObject({ state: 'Succeeded', attempt: 1, sha256: sha256(local) });
    const bytes = staged(submitted.id);
    expect(bytes.length).toBe(local.length);
    expect(bytes.equals(local)).toBe(true);
    expect(job.staging).toEqual({ bytes: local.length, sha256: sha256(local) });
    const resumedAt = Number(
      /Resuming the copy at byte (\d+) \(try 2 of 3\)/.exec(node.output().slice(logFrom))?.[1],
    );
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(3 * 1024 * 1024);
    expect(cp.stderr()).toContain(`Staged ${local.length} bytes for job ${submitted.id}`);
    expect(cp.stderr()).toContain(`(resumed at byte ${resumedAt})`);
    // Nothing partial is left behind.
    expect(fs.readdirSync(path.join(cp.dataDir, 'staging')).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('fails at once, without a retry, when the data store refuses the credential (401)', async () => {
    const before = retryLines().length;
    const submitted = await submit('badweb:flaky/busy-once/c.bin');
    const job = await finished(submitted.id);
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'DATA_STORE_AUTH_FAILED' });
    expect(job.reason).toMatch(/HTTP 401/);
    expect(job.reason).not.toMatch(/gave up/);
    expect(requestsFor('/flaky/busy-once/c.bin')).toHaveLength(1);
    expect(retryLines().length).toBe(before);
  });

  it('gives up after 3 tries when the failure keeps coming back', async () => {
    const submitted = await submit('web:flaky/drop-always/d.bin');
    const job = await finished(submitted.id);
    expect(job.state).toBe('Failed');
    expect(job.reason).toMatch(/gave up after 3 tries/);
    expect(requestsFor('/flaky/drop-always/d.bin')).toHaveLength(3);
    expect(node.output()).toContain('retrying (try 3 of 3)');
    expect(job.note).toMatch(/\(try 3 of 3\), after: /);
    expect(fs.existsSync(path.join(cp.dataDir, 'staging', submitted.id))).toBe(false);
  });

  const pgBin = findPostgresBin();
  if (pgBin.bin === null) console.log(`skipped: PostgreSQL retry test (${pgBin.reason})`);

  it.runIf(pgBin.bin !== null)(
    'starts a PostgreSQL query over from byte 0 when its connection is killed mid-copy (a query cannot seek)',
    async () => {
      const pg: RunningPostgres = await startPostgres();
      const password = randomBytes(12).toString('hex');
      await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${password}'; CREATE DATABASE shop;`);
      const set = await node.cli(postgresCredentialArgs('pg', pg), `${password}\n`);
      expect(set.code).toBe(0);
      // Rows stream out, then the first run pauses at row 5000 (long enough to kill its backend
      // there, whatever the load); once the table retry_done exists, runs go straight through.
      // The pause changes no byte of the output.
      const query =
        "SELECT g, md5(g::text) AS h, CASE WHEN g = 5000 AND to_regclass('public.retry_done') IS NULL THEN pg_sleep(30)::text END AS s FROM generate_series(1, 20000) g /* retry-marker */";
      const submitted = await admin<JobJson>([
        'job',
        'submit',
        '--ir',
        'retry-ir',
        '--source',
        `pg:${query}`,
        '--sink',
        'staging',
        '--format',
        'csv',
      ]);
      for (let i = 0; ; i += 1) {
        const job = await admin<JobJson>(['job', 'show', submitted.id]);
        if (job.state === 'Running' && job.progress.bytes > 0) break;
        if (i > 300) throw new Error(`the copy never started: ${JSON.stringify(job)}`);
        await sleep(50);
      }
      await pg.sql('CREATE TABLE retry_done ()', 'shop');
      const killed = await pg.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%retry-marker%' AND query LIKE 'COPY%'",
      );
      expect(killed.trim()).toBe('1');
      const job = await finished(submitted.id);
      const reference = await pg.copyCsvDigest(query, { database: 'shop', user: 'reader', password });
      expect(job).toMatchObject({ state: 'Succeeded', attempt: 1, sha256: reference.sha256 });
      expect(job.progress.rows).toBe(20_000);
      const bytes = staged(submitted.id);
      expect(bytes.length).toBe(reference.bytes);
      expect(sha256(bytes)).toBe(reference.sha256);
      expect(node.output()).toMatch(/Copy interrupted: .*retrying \(try 2 of 3\)/);
      expect(node.output()).toContain('Restarting the copy from the start (try 2 of 3)');
      expect(job.note).toMatch(/^Restarting the copy from the start \(try 2 of 3\), after: /);
    },
    60_000,
  );
});
