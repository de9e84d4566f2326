import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  accountNameOf,
  blobError,
  blobTuning,
  blockIdFor,
  blockPlan,
  BlockWriter,
  concurrencyFor,
  DEFAULT_BLOB_TUNING,
  MAX_BLOCKS,
  openBlobSink,
  openContainer,
  type BlobCredential,
} from '../../src/core/jobs/azureBlob';
import { CopyActivity } from '../../src/core/jobs/copyActivity';
import type { CopyEnds } from '../../src/core/jobs/copyEnds';
import { CredentialStore } from '../../src/core/jobs/credentialStore';
import { invalidRecord, secretValues } from '../../src/core/jobs/credentialRecords';
import { isTransient, markTransient } from '../../src/core/jobs/retry';
import { FileVault } from '../../src/core/vault';
import type { Connector } from '../../src/core/connector';
import { CredentialInputSchema } from '../../src/shared/credentials';
import { OpenIrError } from '../../src/shared/errors';
import { AZURITE_KEY, azuriteAvailable, startAzurite, stopAllAzurites } from '../helpers/azurite';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

afterAll(async () => {
  await stopAllAzurites();
  cleanupTempDirs();
});

const KEY = 'a2V5LWZvci10ZXN0cy1vbmx5LW5vdC1yZWFsLWtleS0xMjM0NTY3ODkwYWJjZGVm';
const blob = (secret?: string, auth: 'key' | 'sas' | 'connectionString' = 'key') =>
  ({
    name: 'lake',
    type: 'azureBlob',
    accountUrl: 'https://lakeacct.blob.core.windows.net',
    container: 'exports',
    auth,
    ...(secret ? { secret } : {}),
  }) as const;

function nodeStore(origin: string) {
  const home = tempDir('openir-blobcred-');
  const vault = new FileVault(path.join(home, 'vault'));
  return { home, store: new CredentialStore({ dataDir: home, vault, origin: () => origin }) };
}

describe('azureBlob credentials', () => {
  it('keeps the secret in the vault, shows only its kind, and keeps it on an update without one', async () => {
    const { home, store } = nodeStore('n1');
    const view = await store.set(blob(KEY));
    expect(view).toMatchObject({ type: 'azureBlob', container: 'exports', auth: 'key', hasSecret: true });
    expect(JSON.stringify(view)).not.toContain(KEY);
    expect(filesContaining(home, KEY)).toEqual([]);
    await store.set(blob());
    await expect(store.resolve('lake', ['azureBlob'])).resolves.toMatchObject({ secret: KEY, auth: 'key' });
    // Another sign-in kind needs its own secret: the key is no SAS token.
    await expect(store.set(blob(undefined, 'sas'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await store.set(blob('sv=2024&sp=cw&sig=abcdefgh', 'sas'));
    await expect(store.resolve('lake', ['azureBlob'])).resolves.toMatchObject({ auth: 'sas' });
  });

  it('syncs to a peer with its secret, which that node keeps in its own vault', async () => {
    const one = nodeStore('node-1');
    const two = nodeStore('node-2');
    await one.store.set(blob('sv=2024&se=2099-01-01&sp=cw&sig=abcdefgh', 'sas'));
    expect(await two.store.merge((await one.store.offer([])).entries)).toEqual(['lake']);
    await expect(two.store.resolve('lake', ['azureBlob'])).resolves.toMatchObject({
      auth: 'sas',
      secret: 'sv=2024&se=2099-01-01&sp=cw&sig=abcdefgh',
    });
    expect(fs.readFileSync(path.join(two.home, 'credentials.json'), 'utf8')).not.toContain('sig=');
  });

  it('refuses a bad account URL or container, here and when synced', () => {
    expect(CredentialInputSchema.safeParse({ ...blob(KEY), container: 'Has_Caps' }).success).toBe(false);
    expect(
      CredentialInputSchema.safeParse({ ...blob(KEY), accountUrl: 'https://a.blob.core.windows.net/c/d' })
        .success,
    ).toBe(false);
    expect(
      CredentialInputSchema.safeParse({ ...blob(KEY), accountUrl: 'http://127.0.0.1:10000/devstoreaccount1' })
        .success,
    ).toBe(true);
    const record = {
      type: 'azureBlob' as const,
      createdAt: '',
      hasSecret: true,
      fields: { accountUrl: 'ftp://x', container: 'exports', auth: 'key' },
    };
    expect(invalidRecord('lake', record)).toMatch(/account URL/);
  });

  it('redacts a connection string and the key inside it', () => {
    const cs = `DefaultEndpointsProtocol=https;AccountName=lakeacct;AccountKey=${KEY};EndpointSuffix=core.windows.net`;
    expect(secretValues({ secret: cs })).toEqual([cs, KEY]);
  });
});

describe('azureBlob helpers', () => {
  it('finds the account name in a cloud or an emulator URL', () => {
    expect(accountNameOf('https://lakeacct.blob.core.windows.net')).toBe('lakeacct');
    expect(accountNameOf('http://127.0.0.1:10000/devstoreaccount1')).toBe('devstoreaccount1');
  });

  it('derives block ids of one length from the job id and the offset', () => {
    const a = blockIdFor('job-1', 0);
    const b = blockIdFor('job-1', 8 * 1024 * 1024);
    expect(a).not.toBe(b);
    expect(a.length).toBe(b.length);
    expect(blockIdFor('job-1', 0)).toBe(a);
    expect(blockIdFor('job-2', 0)).not.toBe(a);
  });

  it('takes block size and concurrency from the environment, within bounds', () => {
    expect(blobTuning({})).toEqual(DEFAULT_BLOB_TUNING);
    expect(blobTuning({ OPENIR_BLOB_BLOCK_MIB: '16', OPENIR_BLOB_CONCURRENCY: '2' })).toMatchObject({
      blockSize: 16 * 1024 * 1024,
      concurrency: 2,
    });
    expect(blobTuning({ OPENIR_BLOB_BLOCK_MIB: '0', OPENIR_BLOB_CONCURRENCY: 'x' })).toEqual(
      DEFAULT_BLOB_TUNING,
    );
  });

  it('plans larger blocks (fewer at once) only for a source whose size needs more than the blocks left', () => {
    const MiB = 1024 * 1024;
    const tuned = DEFAULT_BLOB_TUNING;
    expect(tuned.blockSize).toBe(4 * MiB);
    const plan = (size: number | undefined, left = MAX_BLOCKS) => blockPlan(tuned, size, left);
    // A size that fits: the tuned blocks, 8 at once.
    expect(plan(1024 * MiB)).toEqual({ blockSize: 4 * MiB, concurrency: 8, growEvery: null });
    expect(plan(tuned.blockSize * MAX_BLOCKS).blockSize).toBe(4 * MiB);
    // One byte more than 50,000 blocks of 4 MiB hold: 5 MiB blocks (whole MiB, rounded up), 6 at once.
    expect(plan(tuned.blockSize * MAX_BLOCKS + 1)).toEqual({
      blockSize: 5 * MiB,
      concurrency: 6,
      growEvery: null,
    });
    // 1 TiB: 21 MiB blocks, and never fewer than 2 at once; the bytes in flight stay about 32-42 MiB.
    const tib = 1024 * 1024 * MiB;
    const big = plan(tib);
    expect(big.blockSize).toBe(21 * MiB);
    expect(big.blockSize * MAX_BLOCKS).toBeGreaterThanOrEqual(tib);
    expect(big.concurrency).toBe(2);
    // A retry that reuses blocks has fewer left: the rest must still fit.
    expect(plan(100 * MiB, 10).blockSize).toBe(10 * MiB);
    // Unknown size: the tuned blocks, doubling every 10,000.
    expect(plan(undefined)).toEqual({ blockSize: 4 * MiB, concurrency: 8, growEvery: 10_000 });
    expect([8, 16, 32, 64].map((mib) => concurrencyFor(tuned, mib * MiB))).toEqual([4, 2, 2, 2]);
  });

  it('a stream of unknown size grows its blocks at each step, every byte staged once, in order', async () => {
    const staged: { id: string; bytes: Buffer }[] = [];
    let inFlight = 0;
    let most = 0;
    const blob = {
      stageBlock: async (id: string, body: Buffer) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        staged.push({ id, bytes: Buffer.from(body) });
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
      },
    };
    const plan = { blockSize: 1024, concurrency: 4, growEvery: 3 };
    const writer = new BlockWriter(
      blob as unknown as ConstructorParameters<typeof BlockWriter>[0],
      'job-1',
      0,
      plan,
      12,
      new AbortController().signal,
      (error) => error,
    );
    const data = Buffer.from(
      Array.from({ length: 1024 * 3 + 2048 * 3 + 4096 * 3 + 8192 * 3 }, (_, i) => i & 255),
    );
    for (let at = 0; at < data.length; at += 1000)
      await new Promise<void>((resolve, reject) =>
        writer.write(data.subarray(at, at + 1000), (error) => (error ? reject(error) : resolve())),
      );
    await new Promise<void>((resolve, reject) =>
      writer.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    expect(staged.map((block) => block.bytes.length)).toEqual([
      1024, 1024, 1024, 2048, 2048, 2048, 4096, 4096, 4096, 8192, 8192, 8192,
    ]);
    expect(
      Buffer.concat(
        writer.staged.map((b) => staged.find((s) => s.id === b.id)?.bytes ?? Buffer.alloc(0)),
      ).equals(data),
    ).toBe(true);
    expect(most).toBeLessThanOrEqual(4);
    // One byte more needs a 13th block: refused with the fix, not left to the commit.
    const over = new BlockWriter(
      blob as unknown as ConstructorParameters<typeof BlockWriter>[0],
      'job-2',
      0,
      { blockSize: 1024, concurrency: 4, growEvery: null },
      2,
      new AbortController().signal,
      (error) => error,
    );
    over.on('error', () => undefined);
    const refused = await new Promise<unknown>((resolve) => {
      over.write(Buffer.alloc(2048), () =>
        over.end(Buffer.alloc(1), (error?: Error | null) => resolve(error)),
      );
    });
    expect(refused).toMatchObject({ code: 'DATA_SINK_FAILED' });
    expect(String((refused as Error).message)).toContain('50,000 blocks');
  });

  it('maps storage answers and network failures to codes; refusals are not retried', () => {
    const credential: BlobCredential = { ...blob(KEY) };
    const expiredSas: BlobCredential = { ...blob('se=2020-01-01T00%3A00%3A00Z&sp=cw&sig=x', 'sas') };
    const answer = (statusCode: number, errorCode: string) =>
      Object.assign(new Error(errorCode), { statusCode, code: errorCode, details: { errorCode } });
    const cases: [unknown, BlobCredential, string, boolean][] = [
      [answer(403, 'AuthorizationFailure'), credential, 'BLOB_AUTH_FAILED', false],
      [answer(403, 'AuthenticationFailed'), credential, 'BLOB_AUTH_FAILED', false],
      [answer(403, 'AuthorizationPermissionMismatch'), credential, 'BLOB_PERMISSION_DENIED', false],
      [answer(403, 'AuthenticationFailed'), expiredSas, 'BLOB_SAS_EXPIRED', false],
      [answer(404, 'ContainerNotFound'), credential, 'BLOB_NOT_FOUND', false],
      [answer(404, 'BlobNotFound'), credential, 'BLOB_NOT_FOUND', false],
      [answer(503, 'ServerBusy'), credential, 'DATA_SINK_FAILED', true],
      [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), credential, 'BLOB_UNREACHABLE', true],
      [
        Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
        credential,
        'BLOB_TLS_UNTRUSTED',
        false,
      ],
      [
        Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
        credential,
        'DATA_SINK_FAILED',
        true,
      ],
    ];
    for (const [error, cred, code, transient] of cases) {
      const mapped = blobError(error, cred, 'write the blob "x"', 'sink');
      expect(mapped, String(error)).toMatchObject({ code });
      expect(isTransient(mapped), code).toBe(transient);
      expect(String((mapped as Error).message)).not.toContain(KEY);
    }
  });
});

describe('azureBlob connections', () => {
  it('go through the connector, and a proxy refusal keeps its own code', async () => {
    const asked: string[] = [];
    const connector = {
      openTunnel: async (origin: string) => {
        asked.push(origin);
        throw new OpenIrError('PROXY_AUTH_FAILED', 'The proxy rejected the user name or password.');
      },
      openTlsTunnel: async (origin: string) => {
        asked.push(`tls ${origin}`);
        throw new OpenIrError('PROXY_AUTH_FAILED', 'The proxy rejected the user name or password.');
      },
    } as unknown as Connector;
    const credential: BlobCredential = { ...blob(KEY) };
    const opened = openContainer(credential, connector);
    try {
      const error = await opened.container
        .getBlockBlobClient('x.bin')
        .stageBlock('AAAA', Buffer.from('x'), 1)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(blobError(error, credential, 'write', 'sink')).toMatchObject({ code: 'PROXY_AUTH_FAILED' });
      expect(asked).toEqual(['tls https://lakeacct.blob.core.windows.net']);
    } finally {
      opened.close();
    }
  });
});

describe('a resumed copy into a sink of whole blocks', () => {
  it('goes back to a byte that is both a checkpoint and a block edge', async () => {
    const KIB = 1024;
    const BLOCK = 1024 * KIB;
    const data = randomBytes(10 * BLOCK + 5);
    /** Blocks the far end holds, by offset; kept across tries like uncommitted blocks. */
    const blocks = new Map<number, Buffer>();
    let committed: Buffer | null = null;
    let tries = 0;
    const resumes: number[] = [];
    const ends: CopyEnds = {
      // 768 KiB chunks: the copy's checkpoints (at least 1 MiB apart) fall at 1536, 3072, 4608, 6144 KiB…
      openSource: async (source) => {
        const offset = source.offset ?? 0;
        const chunks: Buffer[] = [];
        for (let at = offset; at < data.length; at += 768 * KIB)
          chunks.push(data.subarray(at, Math.min(data.length, at + 768 * KIB)));
        return { stream: Readable.from(chunks), offset };
      },
      openSink: async () => {
        tries += 1;
        const fail = tries === 1;
        let position = 0;
        let pending = Buffer.alloc(0);
        const kept = () => {
          let end = 0;
          while (blocks.has(end)) end += (blocks.get(end) as Buffer).length;
          return end;
        };
        return {
          held: async () => kept(),
          resumableAt: (offset: number) => Math.min(kept(), Math.floor(offset / BLOCK) * BLOCK),
          open(offset: number) {
            position = offset;
            return new Writable({
              write(chunk: Buffer, _encoding, callback) {
                pending = Buffer.concat([pending, chunk]);
                while (pending.length >= BLOCK) {
                  blocks.set(position, pending.subarray(0, BLOCK));
                  position += BLOCK;
                  pending = pending.subarray(BLOCK);
                }
                // The first try breaks off once 8 blocks are in (8448 KiB read).
                if (fail && position >= 8 * BLOCK)
                  return callback(markTransient(new Error('connection reset')));
                callback();
              },
              final(callback) {
                if (pending.length > 0) blocks.set(position, pending);
                callback();
              },
            });
          },
          async commit() {
            const parts: Buffer[] = [];
            for (let end = 0; blocks.has(end); end += (blocks.get(end) as Buffer).length)
              parts.push(blocks.get(end) as Buffer);
            committed = Buffer.concat(parts);
          },
          abort: async () => undefined,
          refusal: async () => null,
        };
      },
    };
    const activity = new CopyActivity(
      ends,
      {
        jobId: 'job-blocks',
        attempt: 1,
        source: { credential: 'src', path: 'x' },
        sink: { type: 'credential', credential: 'lake', path: 'x' },
        format: 'raw',
      },
      { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, onResume: (offset) => resumes.push(offset) },
    );
    const result = await activity.run(new AbortController().signal);
    // The sink held 8 MiB; the checkpoint before it, 7680 KiB, is inside a block: back to the edge
    // before (7168 KiB), then to the checkpoint before that, 6144 KiB, which is also an edge.
    expect(resumes).toEqual([6 * BLOCK]);
    expect(result.tries).toBe(2);
    expect(result.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(committed).toEqual(data);
  });
});

describe('blob read tuning from the environment', () => {
  it('takes OPENIR_BLOB_READ_MIB and OPENIR_BLOB_READ_CONCURRENCY within bounds, else the defaults', () => {
    expect(blobTuning({ OPENIR_BLOB_READ_MIB: '8', OPENIR_BLOB_READ_CONCURRENCY: '6' })).toMatchObject({
      partSize: 8 * 1024 * 1024,
      readConcurrency: 6,
    });
    expect(blobTuning({ OPENIR_BLOB_READ_MIB: '0', OPENIR_BLOB_READ_CONCURRENCY: 'many' })).toEqual(
      DEFAULT_BLOB_TUNING,
    );
  });
});

describe.skipIf(!azuriteAvailable)('the block blob sink against Azurite', () => {
  it('fills a block buffer again once its block is staged (no new buffer per block), each block with its MD5', async () => {
    const azurite = await startAzurite();
    const direct = {
      openTunnel: (origin: string) =>
        new Promise<net.Socket>((resolve, reject) => {
          const url = new URL(origin);
          const socket = net.connect(Number(url.port), url.hostname, () => resolve(socket));
          socket.once('error', reject);
        }),
    } as unknown as Connector;
    const credential = {
      name: 'lake',
      type: 'azureBlob',
      accountUrl: azurite.accountUrl,
      container: 'reuse',
      auth: 'key',
      secret: AZURITE_KEY,
    } as const satisfies BlobCredential;
    const opened = openContainer(credential, direct);
    await opened.container.create();
    const blockSize = 256 * 1024;
    const data = randomBytes(blockSize * 24 + 1000);
    const isBlock = (size: unknown) => size === blockSize;
    const slow = vi.spyOn(Buffer, 'allocUnsafeSlow');
    const fast = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      const sink = await openBlobSink(direct, credential, 'reused.bin', 'job-reuse', {
        ...DEFAULT_BLOB_TUNING,
        blockSize,
        concurrency: 2,
      });
      const chunks = Array.from({ length: Math.ceil(data.length / 100_000) }, (_, i) =>
        data.subarray(i * 100_000, (i + 1) * 100_000),
      );
      await pipeline(Readable.from(chunks), sink.open(0, data.length));
      await sink.commit();
      const blockBuffers = [...slow.mock.calls, ...fast.mock.calls].filter(([size]) => isBlock(size)).length;
      // 25 blocks, 2 staged at once: the one being filled, two on their way, and one spare at most.
      expect(blockBuffers).toBeGreaterThan(0);
      expect(blockBuffers).toBeLessThanOrEqual(4);
    } finally {
      slow.mockRestore();
      fast.mockRestore();
    }
    // Azurite checks each block's Content-MD5: a wrong one would have failed the stage.
    const back = await opened.container.getBlobClient('reused.bin').downloadToBuffer();
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    opened.close();
    await azurite.stop();
  }, 120_000);
});
