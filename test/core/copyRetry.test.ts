import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyActivity, type RetryNotice } from '../../src/core/jobs/copyActivity';
import type { CopyEnds } from '../../src/core/jobs/copyEnds';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { LocalPathPolicy } from '../../src/core/jobs/pathPolicy';
import { describeFailure, isTransient, markTransient, retryDelayMs } from '../../src/core/jobs/retry';
import { openLocalFileSink } from '../../src/core/jobs/sinks';
import { openSource } from '../../src/core/jobs/sources';
import { FileVault } from '../../src/core/vault';
import { OpenIrError } from '../../src/shared/errors';
import { startDataServer } from '../helpers/dataServer';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * The copy activity's retry with its real ends: the node's source opener (a
 * local folder, an HTTP data store that fails once) and the local-file sink,
 * with a fast retry policy.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const TOKEN = `tok-${randomBytes(8).toString('hex')}`;

describe('copy retry', () => {
  const root = tempDir('openir-copy-retry-');
  const home = tempDir('openir-copy-retry-home-');
  const flaky = randomBytes(3 * 1024 * 1024 + 17);
  const data = startDataServer({ token: TOKEN, slowData: Buffer.alloc(0), flaky });
  const paths = new LocalPathPolicy(async () => [root]);
  const credentials = new CredentialStore({ dataDir: home, vault: new FileVault(path.join(home, 'vault')) });
  const ends: CopyEnds = {
    openSource: (source, signal) =>
      openSource(
        {
          credentials,
          paths,
          connector: () => {
            throw new Error('no HTTPS in this test');
          },
        },
        source,
        signal,
      ),
    openSink: async (request) => {
      if (request.sink.type !== 'credential') throw new Error('local sinks only here');
      return openLocalFileSink(paths, root, request.sink.path);
    },
  };
  const copy = (source: string, out: string, notices: RetryNotice[], attempts = 3) => {
    const [credential = '', location = ''] = source.split(/:(.*)/s);
    return new CopyActivity(
      ends,
      {
        jobId: 'job-1',
        attempt: 1,
        source: { credential, path: location },
        sink: { type: 'credential', credential: 'files', path: out },
        format: 'raw',
      },
      { retry: { attempts, baseDelayMs: 5, maxDelayMs: 20 }, onRetry: (n) => notices.push(n) },
    );
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    await credentials.set({ name: 'files', type: 'localFolder', root });
    await credentials.set({ name: 'web', type: 'http', baseUrl: base, bearerToken: TOKEN, headers: {} });
    await credentials.set({ name: 'bad', type: 'http', baseUrl: base, bearerToken: 'wrong', headers: {} });
  });

  afterAll(() => {
    data.server.closeAllConnections();
    data.server.close();
    cleanupTempDirs();
  });

  it('retries a dropped HTTP body and writes the whole file, byte-exact, with its checksum', async () => {
    const notices: RetryNotice[] = [];
    const result = await copy('web:flaky/drop-once/1.bin', 'out/1.bin', notices).run(
      new AbortController().signal,
    );
    expect(result).toMatchObject({ bytes: flaky.length, sha256: sha256(flaky), tries: 2 });
    expect(sha256(fs.readFileSync(path.join(root, 'out', '1.bin')))).toBe(sha256(flaky));
    expect(notices.map((n) => [n.next, n.of])).toEqual([[2, 3]]);
    expect(isTransient(notices[0]?.error)).toBe(true);
    // A local file is written again from the start: no Range asked, no partial file left.
    expect(data.requests.filter((r) => r.url === '/flaky/drop-once/1.bin').map((r) => r.range)).toEqual([
      null,
      null,
    ]);
    expect(fs.readdirSync(path.join(root, 'out'))).toEqual(['1.bin']);
  });

  it('retries an HTTP 503, and is bounded: a failure that keeps coming back fails after the last try', async () => {
    const notices: RetryNotice[] = [];
    const ok = await copy('web:flaky/busy-once/2.bin', 'out/2.bin', notices).run(
      new AbortController().signal,
    );
    expect(ok.tries).toBe(2);
    const failing = copy('web:flaky/drop-always/3.bin', 'out/3.bin', notices, 4);
    await expect(failing.run(new AbortController().signal)).rejects.toMatchObject({
      code: 'DATA_SINK_FAILED',
      message: expect.stringContaining('gave up after 4 tries'),
    });
    expect(data.requests.filter((r) => r.url === '/flaky/drop-always/3.bin')).toHaveLength(4);
    expect(fs.existsSync(path.join(root, 'out', '3.bin'))).toBe(false);
  });

  it('does not retry refusals: a 401, a missing file, a path outside the allow-list', async () => {
    const notices: RetryNotice[] = [];
    await expect(
      copy('bad:flaky/busy-once/4.bin', 'out/4.bin', notices).run(new AbortController().signal),
    ).rejects.toMatchObject({ code: 'DATA_STORE_AUTH_FAILED', message: expect.stringContaining('HTTP 401') });
    await expect(
      copy('files:nope.bin', 'out/5.bin', notices).run(new AbortController().signal),
    ).rejects.toThrow(/There is no file|Cannot read/);
    await expect(
      copy('files:../etc/passwd', 'out/6.bin', notices).run(new AbortController().signal),
    ).rejects.toMatchObject({ code: 'LOCAL_PATH_NOT_ALLOWED' });
    expect(notices).toEqual([]);
    expect(data.requests.filter((r) => r.url === '/flaky/busy-once/4.bin')).toHaveLength(1);
  });

  it('stops at once when cancelled during the backoff', async () => {
    const controller = new AbortController();
    const activity = new CopyActivity(
      ends,
      {
        jobId: 'job-2',
        attempt: 1,
        source: { credential: 'web', path: 'flaky/drop-always/7.bin' },
        sink: { type: 'credential', credential: 'files', path: 'out/7.bin' },
        format: 'raw',
      },
      {
        retry: { attempts: 3, baseDelayMs: 60_000, maxDelayMs: 60_000 },
        onRetry: () => setTimeout(() => controller.abort(new Error('cancelled')), 20),
      },
    );
    const started = Date.now();
    await expect(activity.run(controller.signal)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(data.requests.filter((r) => r.url === '/flaky/drop-always/7.bin')).toHaveLength(1);
  });
});

describe('transient or not', () => {
  it('knows dropped connections, timeouts and marked answers from refusals and cancels', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isTransient(reset)).toBe(true);
    expect(isTransient(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(true);
    expect(isTransient(new Error('socket hang up'))).toBe(true);
    expect(
      isTransient(new OpenIrError('DATA_SINK_FAILED', 'The staging upload failed.', { cause: reset })),
    ).toBe(true);
    expect(isTransient(markTransient(new OpenIrError('DATA_SOURCE_FAILED', 'HTTP 503.')))).toBe(true);
    expect(isTransient(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(true);
    expect(isTransient(new OpenIrError('DATA_SOURCE_FAILED', 'HTTP 404.'))).toBe(false);
    expect(isTransient(new OpenIrError('DATA_SOURCE_AUTH_FAILED', 'refused', { cause: reset }))).toBe(false);
    expect(isTransient(new OpenIrError('JOB_NOT_ASSIGNED', 're-queued'))).toBe(false);
    expect(isTransient(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }))).toBe(
      false,
    );
    expect(isTransient(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
  });

  it('says what happened to a connection in words, and keeps other messages', () => {
    expect(describeFailure(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))).toBe(
      'the connection was reset (ECONNRESET)',
    );
    expect(describeFailure(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(
      'the connection was closed while sending (EPIPE)',
    );
    expect(describeFailure(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(
      'terminating connection (57P01)',
    );
    expect(describeFailure(new Error('socket hang up'))).toBe('socket hang up');
  });

  it('backs off exponentially, with jitter, up to the cap', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 300 };
    expect(retryDelayMs({ ...policy, random: () => 0 }, 2)).toBe(50);
    expect(retryDelayMs({ ...policy, random: () => 0.999999 }, 2)).toBe(100);
    expect(retryDelayMs({ ...policy, random: () => 0 }, 3)).toBe(100);
    expect(retryDelayMs({ ...policy, random: () => 0.5 }, 4)).toBe(225);
    expect(retryDelayMs({ ...policy, random: () => 0.999999 }, 9)).toBe(300);
  });
});
