import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalPathPolicy } from '../../src/core/jobs/pathPolicy';
import { openLocalFileSink } from '../../src/core/jobs/sinks';
import { openSource, type SourceDeps } from '../../src/core/jobs/sources';
import { toErrorBody } from '../../src/shared/errors';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * Local paths are opened without following links and checked on the open
 * handle (security review): a link or folder swapped in after the path was
 * checked is refused, and the refusal, as the control plane gets it, does not
 * say where the link points. The swap happens exactly between the check and
 * the open, by wrapping the policy's check (what a racing local user does).
 */
describe('local files opened and checked on the handle', () => {
  afterAll(() => cleanupTempDirs());

  function setup() {
    const allowed = fs.realpathSync(tempDir('openir-open-allowed-'));
    const outside = fs.realpathSync(tempDir('openir-open-outside-'));
    fs.mkdirSync(path.join(allowed, 'in'));
    fs.writeFileSync(path.join(allowed, 'in', 'a.txt'), 'allowed bytes');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'the secret');
    const policy = new LocalPathPolicy(async () => [allowed]);
    const deps: SourceDeps = {
      credentials: { resolve: async () => ({ type: 'localFolder', name: 'files', root: allowed }) } as never,
      paths: policy,
      connector: () => {
        throw new Error('no network here');
      },
    };
    /** Runs `swap` right after the policy has checked a path for reading, before the open. */
    const swapAfterCheck = (method: 'forRead' | 'forWrite', swap: () => void) => {
      const original = policy[method].bind(policy);
      policy[method] = async (root: string, relative: string) => {
        const checked = await original(root, relative);
        swap();
        return checked;
      };
    };
    const read = async (relative: string) => {
      const opened = await openSource(
        deps,
        { credential: 'files', path: relative } as never,
        new AbortController().signal,
      );
      const chunks: Buffer[] = [];
      for await (const chunk of opened.stream) {
        // Copied: the source reuses its buffers once released.
        chunks.push(Buffer.from(chunk as Buffer));
        opened.release?.(chunk as Buffer);
      }
      return Buffer.concat(chunks).toString();
    };
    return { allowed, outside, policy, swapAfterCheck, read };
  }

  const sentBody = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, 'expected a refusal').not.toBeNull();
    return toErrorBody(error);
  };

  it('reads a regular file under the folder', async () => {
    const { read } = setup();
    expect(await read('in/a.txt')).toBe('allowed bytes');
  });

  it('refuses a file swapped for a link after the check, without saying where it points', async () => {
    const { allowed, outside, swapAfterCheck, read } = setup();
    const file = path.join(allowed, 'in', 'a.txt');
    swapAfterCheck('forRead', () => {
      fs.rmSync(file);
      fs.symlinkSync(path.join(outside, 'secret.txt'), file);
    });
    const body = await sentBody(read('in/a.txt'));
    expect(body.code).toBe('LOCAL_PATH_NOT_ALLOWED');
    expect(body.message).toContain('symbolic link');
    expect(JSON.stringify(body)).not.toContain(outside);
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('refuses a folder swapped for a link after the check', async () => {
    const { allowed, outside, swapAfterCheck, read } = setup();
    fs.writeFileSync(path.join(outside, 'a.txt'), 'outside bytes');
    swapAfterCheck('forRead', () => {
      fs.rmSync(path.join(allowed, 'in'), { recursive: true });
      fs.symlinkSync(outside, path.join(allowed, 'in'));
    });
    const body = await sentBody(read('in/a.txt'));
    expect(body.code).toBe('LOCAL_PATH_NOT_ALLOWED');
    expect(JSON.stringify(body)).not.toContain(outside);
  });

  it('refuses a pipe or a folder: only regular files are read', async () => {
    const { allowed, read } = setup();
    execFileSync('mkfifo', [path.join(allowed, 'in', 'pipe')]);
    const pipe = await sentBody(read('in/pipe'));
    expect(pipe).toMatchObject({
      code: 'LOCAL_PATH_NOT_ALLOWED',
      message: expect.stringContaining('regular file'),
    });
    const folder = await sentBody(read('in'));
    expect(folder.code).toBe('LOCAL_PATH_NOT_ALLOWED');
  });

  it('a link out of the folder is refused without naming its target', async () => {
    const { allowed, outside, read } = setup();
    fs.symlinkSync(outside, path.join(allowed, 'out-link'));
    const body = await sentBody(read('out-link/secret.txt'));
    expect(body.code).toBe('LOCAL_PATH_NOT_ALLOWED');
    expect(JSON.stringify(body)).not.toContain(outside);
  });

  it('writes nothing through a folder swapped for a link after the check', async () => {
    const { allowed, outside, policy, swapAfterCheck } = setup();
    swapAfterCheck('forWrite', () => {
      fs.rmSync(path.join(allowed, 'in'), { recursive: true });
      fs.symlinkSync(outside, path.join(allowed, 'in'));
    });
    const sink = await openLocalFileSink(policy, allowed, 'in/new.txt');
    let error: unknown = null;
    try {
      sink.open(0);
    } catch (e) {
      error = e;
    }
    const body = toErrorBody(error);
    expect(body.code).toBe('LOCAL_PATH_NOT_ALLOWED');
    expect(JSON.stringify(body)).not.toContain(outside);
    await sink.abort();
    expect(fs.readdirSync(outside)).toEqual(['secret.txt']);
  });
});
