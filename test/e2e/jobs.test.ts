import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson, type TestNode } from '../helpers/node';
import { startDataServer } from '../helpers/dataServer';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';

/**
 * Jobs end to end, all real processes: the control plane queues and pushes,
 * OpenIR hosts copy (local folder, HTTP) to staging or a local folder, and the
 * checksums of what arrived are compared byte for byte.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];

describe('jobs: dispatch, copy, cancel, failover, limits', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  const node1 = makeNode({}, 'node1');
  const node2 = makeNode({}, 'node2');
  const dataRoot = tempDir('openir-data-');
  const outside = tempDir('openir-outside-');
  const big = randomBytes(8 * 1024 * 1024 + 123);
  const webBig = randomBytes(3 * 1024 * 1024 + 7);
  const slowData = randomBytes(16 * 1024 * 1024);
  const data = startDataServer({ token: TOKEN, big: webBig, slowData });
  let webUrl = '';

  const admin = <T>(args: string[]) => cp.adminOk<T>(args);
  const submit = (source: string, sink = 'staging', extra: string[] = []) =>
    admin<JobJson>(['job', 'submit', '--ir', 'jobs-ir', '--source', source, '--sink', sink, ...extra]);
  const show = (id: string) => admin<JobJson>(['job', 'show', id]);
  const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 30_000) =>
    cp.waitJob(id, predicate, timeoutMs);
  const setUpNode = async (node: TestNode) => {
    await node.startHost();
    // Two nodes share this IR; a second node may join only while the first has remote access.
    await node.enableRemoteAccess();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    const files = await node.cli([
      'credential',
      'set',
      'files',
      '--type',
      'localFolder',
      '--root',
      dataRoot,
      '--json',
    ]);
    expect(files.code).toBe(0);
    const web = await node.cli(
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin', '--json'],
      `${TOKEN}\n`,
    );
    expect(web.code).toBe(0);
    // Header values come from a file, never the command line; they go to the vault like the token.
    const headersFile = path.join(tempDir('openir-headers-'), 'headers.txt');
    fs.writeFileSync(headersFile, `# sent with every request\nX-Api-Key: ${TOKEN}-header\n`, { mode: 0o600 });
    const withHeaders = await node.cli([
      'credential',
      'set',
      'webh',
      '--type',
      'http',
      '--base-url',
      webUrl,
      '--headers-file',
      headersFile,
      '--json',
    ]);
    expect(withHeaders.code, withHeaders.stderr).toBe(0);
    expect((withHeaders.json as { headerNames: string[] }).headerNames).toEqual(['X-Api-Key']);
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    fs.mkdirSync(path.join(dataRoot, 'in'));
    fs.writeFileSync(path.join(dataRoot, 'in', 'big.bin'), big);
    fs.writeFileSync(path.join(outside, 'private.txt'), 'not for the cloud');
    cp = await startControlPlane(HEARTBEAT);
    key = (await admin<{ key1: string }>(['ir', 'create', 'jobs-ir', '--join-approval', 'auto'])).key1;
    await setUpNode(node1);
  });

  afterAll(async () => {
    data.server.closeAllConnections();
    data.server.close();
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('lists credentials without their secrets, and keeps no secret in plain text on disk', async () => {
    const list = await node1.cli(['credential', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(TOKEN);
    const credentials = (
      list.json as { credentials: { name: string; type: string; hasBearerToken?: boolean }[] }
    ).credentials;
    expect(credentials.map((c) => [c.name, c.type])).toEqual([
      ['files', 'localFolder'],
      ['web', 'http'],
      ['webh', 'http'],
    ]);
    expect(credentials.find((c) => c.name === 'web')?.hasBearerToken).toBe(true);
    expect(filesContaining(node1.home, TOKEN)).toEqual([]);
    expect(filesContaining(node1.home, `${TOKEN}-header`)).toEqual([]);
    expect(node1.output()).not.toContain(TOKEN);
  });

  it('copies a multi-MB local file to staging, byte-exact', async () => {
    const submitted = await submit('files:in/big.bin');
    expect(submitted.state).toBe('Queued');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job).toMatchObject({ state: 'Succeeded', node: { name: 'node1' }, attempt: 1 });
    const staged = fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id));
    expect(staged.length).toBe(big.length);
    expect(sha256(staged)).toBe(sha256(big));
    expect(job.sha256).toBe(sha256(big));
    expect(job.staging).toEqual({ bytes: big.length, sha256: sha256(big) });
    expect(job.progress.bytes).toBe(big.length);
  });

  it('copies local folder to local folder atomically', async () => {
    const submitted = await submit('files:in/big.bin', 'files:out/copy.bin');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job.state).toBe('Succeeded');
    expect(sha256(fs.readFileSync(path.join(dataRoot, 'out', 'copy.bin')))).toBe(sha256(big));
    expect(fs.readdirSync(path.join(dataRoot, 'out'))).toEqual(['copy.bin']);
  });

  it('copies from an HTTP data store (bearer token from the vault) to staging', async () => {
    const submitted = await submit('web:files/big.bin');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job.state).toBe('Succeeded');
    expect(sha256(fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id)))).toBe(sha256(webBig));
  });

  it('refuses local paths outside the allow-list: other folders, "..", and links out', async () => {
    const other = await node1.cli([
      'credential',
      'set',
      'other',
      '--type',
      'localFolder',
      '--root',
      outside,
      '--json',
    ]);
    expect(other.code).toBe(0);
    fs.symlinkSync(outside, path.join(dataRoot, 'link-out'));
    const escapes = [
      await submit('other:private.txt'),
      await submit(`files:../${path.basename(outside)}/private.txt`),
      await submit('files:link-out/private.txt'),
      await submit('files:in/big.bin', 'other:stolen.bin'),
    ];
    for (const submitted of escapes) {
      const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
      expect(job.state).toBe('Failed');
      expect(job.reasonCode).toBe('LOCAL_PATH_NOT_ALLOWED');
    }
    const refused = await show(escapes[0]?.id ?? '');
    expect(refused.reason).toMatch(/openir config allow-folder/);
    expect(fs.existsSync(path.join(outside, 'stolen.bin'))).toBe(false);
  });

  it('fails clearly on an unknown credential', async () => {
    const submitted = await submit('nope:in/big.bin');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    // A credential this node lacks is not the data store's failure: no DATA_STORE_* code.
    expect(job).toMatchObject({ state: 'Failed', reasonCode: 'CREDENTIAL_NOT_FOUND', dataStoreCode: null });
    expect(job.reason).toMatch(/"nope"/);
  });

  it('rejects a malformed job at submit time', async () => {
    const bad = await cp.admin([
      'job',
      'submit',
      '--ir',
      'jobs-ir',
      '--source',
      'no-colon',
      '--sink',
      'staging',
    ]);
    expect(bad.code).toBe(1);
    expect((bad.json as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
    const noIr = await cp.admin([
      'job',
      'submit',
      '--ir',
      'nope',
      '--source',
      'files:x',
      '--sink',
      'staging',
    ]);
    expect((noIr.json as { error: { code: string } }).error.code).toBe('IR_NOT_FOUND');
  });

  it('cancels a running copy within a second', async () => {
    const submitted = await submit('web:slow/16000000');
    await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 15_000);
    const closedBefore = data.slowClosed.length;
    const cancelled = await cp.admin<JobJson>(['job', 'cancel', submitted.id]);
    const cancelReturned = Date.now();
    expect(cancelled.code).toBe(0);
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 5_000);
    expect(job.state).toBe('Cancelled');
    expect(Date.parse(job.finishedAt ?? '') - cancelReturned).toBeLessThan(1000);
    expect(data.slowClosed.length).toBeGreaterThan(closedBefore);
    expect(fs.existsSync(path.join(cp.dataDir, 'staging', submitted.id))).toBe(false);
  });

  it('respects the concurrent jobs limit: never two running on the node at once', async () => {
    const set = await node1.cli(['config', 'set', 'concurrent-jobs', '1', '--json']);
    expect(set.code).toBe(0);
    expect((set.json as { concurrentJobsLimit: { effective: number } }).concurrentJobsLimit.effective).toBe(
      1,
    );
    const status = await node1.cli(['status', '--json']);
    expect((status.json as { jobs: { limit: number } }).jobs.limit).toBe(1);
    await sleep(HEARTBEAT.heartbeatIntervalMs * 2);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await submit('web:slow/1000000')).id);
    const deadline = Date.now() + 30_000;
    let maxActive = 0;
    let finished: JobJson[] = [];
    for (;;) {
      const { jobs } = await admin<{ jobs: JobJson[] }>(['job', 'list', '--ir', 'jobs-ir']);
      const mine = jobs.filter((j) => ids.includes(j.id));
      maxActive = Math.max(
        maxActive,
        mine.filter((j) => j.state === 'Running' || j.state === 'Dispatched').length,
      );
      if (mine.every((j) => FINAL.includes(j.state))) {
        finished = mine;
        break;
      }
      if (Date.now() > deadline) throw new Error(`jobs never finished: ${JSON.stringify(mine)}`);
      await sleep(50);
    }
    expect(finished.map((j) => j.state)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
    expect(maxActive).toBeLessThanOrEqual(1);
    // The control plane's own timestamps decide it, whatever the polling above happened to see:
    // each job was handed out only after the previous one finished.
    const byDispatch = [...finished].sort(
      (a, b) => Date.parse(a.dispatchedAt ?? '') - Date.parse(b.dispatchedAt ?? ''),
    );
    for (let i = 1; i < byDispatch.length; i += 1) {
      const previous = byDispatch[i - 1] as JobJson;
      const next = byDispatch[i] as JobJson;
      expect(Date.parse(next.dispatchedAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(previous.finishedAt ?? ''),
      );
    }
    expect((await node1.cli(['config', 'set', 'concurrent-jobs', 'default', '--json'])).code).toBe(0);
  });

  it('re-queues the job of a node killed mid-copy; a second node completes it with the right checksum', async () => {
    await setUpNode(node2);
    // node2 stays out of the way until node1 has the job.
    expect((await node2.cli(['stop', '--json'])).code).toBe(0);
    const size = 6 * 1024 * 1024;
    const submitted = await submit(`web:slow/${size}`);
    const running = await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 0, 15_000);
    expect(running.node?.name).toBe('node1');
    expect((await node2.cli(['start', '--json'])).code).toBe(0);
    await node1.kill('SIGKILL');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 40_000);
    expect(job).toMatchObject({ state: 'Succeeded', node: { name: 'node2' }, attempt: 2 });
    const expected = sha256(slowData.subarray(0, size));
    expect(job.sha256).toBe(expected);
    expect(sha256(fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id)))).toBe(expected);
    expect(filesContaining(node2.home, TOKEN)).toEqual([]);
    expect(filesContaining(cp.dataDir, TOKEN)).toEqual([]);
  });
});
