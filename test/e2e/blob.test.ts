import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connector } from '../../src/core/connector';
import { blockIdFor, openBlobSource } from '../../src/core/jobs/azureBlob';
import { DEFAULT_BLOB_TUNING } from '../../src/core/jobs/azureBlobClient';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteAvailable,
  startAzurite,
  stopAllAzurites,
  type Azurite,
} from '../helpers/azurite';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { startCuttingRelay } from '../helpers/cuttingRelay';
import { startDataServer } from '../helpers/dataServer';
import { findMariadb, mysqlCredentialArgs, startMariadb, stopAllMariadb } from '../helpers/mariadb';
import {
  createTypedTable,
  expectCsvRowExact,
  expectNdjsonRowExact,
  typedReference,
} from '../helpers/mariadbRows';
import { makeNode, stopAllNodes, type StatusJson, type TestNode } from '../helpers/node';
import {
  findPostgresBin,
  postgresCredentialArgs,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
} from '../helpers/postgres';
import { TestCa, opensslAvailable } from '../helpers/openssl';
import { startTinyproxy, stopAllTinyproxies, tinyproxyAvailable } from '../helpers/tinyproxy';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

/**
 * Azure Blob Storage as a source and a sink, end to end with real processes:
 * Azurite (npm) on a free loopback port, the control plane, OpenIR hosts,
 * PostgreSQL and an authenticating tinyproxy. Contents are compared by
 * SHA-256 (and row count against psql's own export); failures by their code.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const PG_PASSWORD = `pw-${randomBytes(10).toString('hex')}`;
const PG_ROWS = 1_000_000;
const MY_ROWS = 50_000;
const MY_PASSWORD = `pw-${randomBytes(10).toString('hex')}`;
const pgFound = findPostgresBin();
const myFound = findMariadb().found;

/**
 * A TCP relay to Azurite (test/helpers/cuttingRelay.ts) that also counts the
 * staged blocks and the start of every ranged read that went through it.
 */
async function startAzuriteRelay(targetPort: number) {
  let stagedBlocks = 0;
  const ranges: number[] = [];
  const relay = await startCuttingRelay(
    () => targetPort,
    (chunk) => {
      const text = chunk.toString('latin1');
      stagedBlocks += (text.match(/PUT [^ ]*comp=block[& ]/g) ?? []).length;
      for (const match of text.matchAll(/^x-ms-range: bytes=(\d+)-/gim)) ranges.push(Number(match[1]));
    },
  );
  return { ...relay, stagedBlocks: () => stagedBlocks, ranges: () => [...ranges] };
}

describe.runIf(azuriteAvailable)('Azure Blob Storage: source and sink against Azurite', () => {
  // No failover here: a generous timeout, so a busy machine does not re-queue a running copy.
  const HEARTBEAT = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 10_000 };
  let azurite: Azurite;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let container: ContainerClient;
  let relay: Awaited<ReturnType<typeof startAzuriteRelay>>;
  let pg: RunningPostgres | null = null;
  let myServer: Awaited<ReturnType<typeof startMariadb>> | null = null;
  let key = '';
  /** `mariadb --batch` of the typed table (header first), when MariaDB is installed. */
  let myReference: string[][] = [];
  // Small blocks, two at a time: many blocks per file, and a cut falls after some are staged.
  const node = makeNode({ OPENIR_BLOB_BLOCK_MIB: '1', OPENIR_BLOB_CONCURRENCY: '2' }, 'blob-node');
  const dataRoot = tempDir('openir-blob-data-');
  const big = randomBytes(20 * 1024 * 1024 + 321);
  const slowData = randomBytes(16 * 1024 * 1024);
  const data = startDataServer({ token: TOKEN, slowData });

  const admin = <T>(args: string[]) => cp.adminOk<T>(args);
  const submit = (ir: string, source: string, sink: string, extra: string[] = []) =>
    admin<JobJson>(['job', 'submit', '--ir', ir, '--source', source, '--sink', sink, ...extra]);
  const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 60_000) =>
    cp.waitJob(id, predicate, timeoutMs);
  const finished = (id: string, timeoutMs?: number) => waitJob(id, (j) => FINAL.includes(j.state), timeoutMs);
  const blobCredential = (
    target: TestNode,
    name: string,
    opts: { auth: 'key' | 'sas' | 'connection-string'; secret: string; url?: string; container?: string },
  ) =>
    target.cli(
      [
        'credential',
        'set',
        name,
        '--type',
        'azureBlob',
        '--account-url',
        opts.url ?? azurite.accountUrl,
        '--container',
        opts.container ?? 'exports',
        '--auth',
        opts.auth,
        '--secret-stdin',
        '--json',
      ],
      `${opts.secret}\n`,
    );
  const sas = (permissions: string, expiresOn: Date) =>
    generateBlobSASQueryParameters(
      {
        containerName: 'exports',
        permissions: ContainerSASPermissions.parse(permissions),
        startsOn: new Date(Date.now() - 3600_000),
        expiresOn,
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
  const blobBytes = async (name: string) => container.getBlobClient(name).downloadToBuffer();

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    azurite = await startAzurite();
    relay = await startAzuriteRelay(azurite.port);
    const service = new BlobServiceClient(
      azurite.accountUrl,
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    );
    container = service.getContainerClient('exports');
    await container.create();
    fs.mkdirSync(path.join(dataRoot, 'in'));
    fs.writeFileSync(path.join(dataRoot, 'in', 'big.bin'), big);
    if (pgFound.bin !== null) {
      pg = await startPostgres();
      await pg.sql(`CREATE ROLE reader LOGIN PASSWORD '${PG_PASSWORD}'; CREATE DATABASE shop;`);
      await pg.sql(
        `CREATE TABLE sales AS SELECT g AS id, round(g / 7.0, 3) AS amount,
           CASE WHEN g % 9 = 0 THEN NULL ELSE 'item, "' || g || '"' END AS label,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS at
         FROM generate_series(1, ${PG_ROWS}) g;
         GRANT SELECT ON sales TO reader;`,
        'shop',
      );
    }
    if (myFound) {
      const db = await startMariadb();
      await createTypedTable(db, MY_ROWS, { password: MY_PASSWORD });
      myReference = await typedReference(db);
      myServer = db;
    }
    cp = await startControlPlane(HEARTBEAT);
    key = (await admin<{ key1: string }>(['ir', 'create', 'blob-ir'])).key1;
    await node.startHost();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    const files = await node.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]);
    expect(files.code).toBe(0);
    const webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    const web = await node.cli(
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
      `${TOKEN}\n`,
    );
    expect(web.code).toBe(0);
    const far = Date.now() + 24 * 3600_000;
    const credentials: [string, Parameters<typeof blobCredential>[2]][] = [
      ['blob', { auth: 'key', secret: AZURITE_KEY }],
      [
        'blobcs',
        {
          auth: 'connection-string',
          secret: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azurite.accountUrl};`,
        },
      ],
      ['blobwo', { auth: 'sas', secret: sas('cw', new Date(far)) }],
      ['blobro', { auth: 'sas', secret: sas('rl', new Date(far)) }],
      ['blobexpired', { auth: 'sas', secret: sas('racwl', new Date(Date.now() - 60_000)) }],
      ['blobbadkey', { auth: 'key', secret: Buffer.from(randomBytes(64)).toString('base64') }],
      ['blobnocontainer', { auth: 'key', secret: AZURITE_KEY, container: 'missing' }],
      [
        'blobrelay',
        { auth: 'key', secret: AZURITE_KEY, url: `http://127.0.0.1:${relay.port}/${AZURITE_ACCOUNT}` },
      ],
    ];
    for (const [name, opts] of credentials) {
      const set = await blobCredential(node, name, opts);
      expect(set.code, set.stderr).toBe(0);
    }
    if (pg) expect((await node.cli(postgresCredentialArgs('pg', pg), `${PG_PASSWORD}\n`)).code).toBe(0);
    if (myServer)
      expect((await node.cli(mysqlCredentialArgs('my', myServer), `${MY_PASSWORD}\n`)).code).toBe(0);
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  }, 240_000);

  afterAll(async () => {
    data.server.closeAllConnections();
    data.server.close();
    relay?.close();
    await stopAllNodes();
    await stopControlPlanes();
    await stopAllTinyproxies();
    await stopAllPostgres();
    await stopAllMariadb();
    await stopAllAzurites();
    cleanupTempDirs();
  });

  it('keeps the account key, SAS and connection string in the vault only, and lists their kind', async () => {
    const list = await node.cli(['credential', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(AZURITE_KEY);
    const blob = (list.json as { credentials: Record<string, unknown>[] }).credentials.find(
      (c) => c.name === 'blob',
    );
    expect(blob).toMatchObject({
      type: 'azureBlob',
      accountUrl: azurite.accountUrl,
      container: 'exports',
      auth: 'key',
      hasSecret: true,
    });
    expect(filesContaining(node.home, AZURITE_KEY)).toEqual([]);
    expect(node.output()).not.toContain(AZURITE_KEY);
    const human = await node.cli(['credential', 'list']);
    expect(human.stdout).toMatch(/blobcs\s+azureBlob\s+\S+\/exports\s+connection string saved/);
  });

  it('refuses bad azureBlob input on the command line', async () => {
    const noAuth = await node.cli(
      [
        'credential',
        'set',
        'x',
        '--type',
        'azureBlob',
        '--account-url',
        azurite.accountUrl,
        '--container',
        'c1',
      ],
      '',
    );
    expect(noAuth.code).not.toBe(0);
    const badContainer = await blobCredential(node, 'x', { auth: 'key', secret: 'k', container: 'Bad_Name' });
    expect(badContainer.code).not.toBe(0);
    expect((badContainer.json as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
  });

  it('copies a local file to a block blob, byte-exact, committed in blocks', async () => {
    const submitted = await submit('blob-ir', 'files:in/big.bin', 'blob:out/big.bin');
    const job = await finished(submitted.id);
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(job.sha256).toBe(sha256(big));
    expect(sha256(await blobBytes('out/big.bin'))).toBe(sha256(big));
    const blocks = await container.getBlockBlobClient('out/big.bin').getBlockList('committed');
    expect(blocks.committedBlocks?.length).toBe(21);
    expect(blocks.committedBlocks?.[1]?.name).toBe(blockIdFor(submitted.id, 1024 * 1024));
  });

  it('copies a blob to a local folder with parallel ranged reads, byte-exact', async () => {
    const submitted = await submit('blob-ir', 'blobcs:out/big.bin', 'files:back/big.bin');
    const job = await finished(submitted.id);
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(sha256(fs.readFileSync(path.join(dataRoot, 'back', 'big.bin')))).toBe(sha256(big));
    expect(job.sha256).toBe(sha256(big));
  });

  it('reads a blob to the end for a reader slower than the parts arrive (no stall when parts finish ahead)', async () => {
    // Four parts in flight that all finish before the first is read leave the
    // buffer over its mark: the stream must still start the next part when asked.
    const name = 'slow-reader.bin';
    const bytes = randomBytes(21 * 1024 * 1024 + 7);
    await container.getBlockBlobClient(name).uploadData(bytes);
    const connector = new Connector(async () => ({ kind: 'direct', proxy: null, reason: 'none' }) as never);
    const credential = {
      name: 'direct',
      type: 'azureBlob',
      accountUrl: azurite.accountUrl,
      container: 'exports',
      auth: 'key',
      secret: AZURITE_KEY,
    } as const;
    const tuning = { ...DEFAULT_BLOB_TUNING, partSize: 4 * 1024 * 1024, readConcurrency: 4 };
    const opened = await openBlobSource(
      connector,
      credential,
      name,
      {},
      new AbortController().signal,
      tuning,
    );
    const hash = createHash('sha256');
    let read = 0;
    await pipeline(
      opened.stream,
      new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          read += chunk.length;
          setTimeout(done, 1);
        },
      }),
    );
    expect(read).toBe(bytes.length);
    expect(hash.digest('hex')).toBe(sha256(bytes));
  }, 120_000);

  it.runIf(pgFound.bin !== null)(
    `copies ${PG_ROWS.toLocaleString('en')} PostgreSQL rows to a blob as CSV, row- and byte-exact with psql`,
    async () => {
      const query = 'SELECT * FROM sales ORDER BY id';
      const reference = await pg!.copyCsvDigest(query, {
        database: 'shop',
        user: 'reader',
        password: PG_PASSWORD,
      });
      const t0 = Date.now();
      const submitted = await submit('blob-ir', `pg:${query}`, 'blob:sales.csv', ['--format', 'csv']);
      const job = await finished(submitted.id, 120_000);
      console.log(
        `${PG_ROWS} PostgreSQL rows → blob: ${Date.now() - t0} ms (psql's own export: ${reference.ms} ms)`,
      );
      expect(job.state, job.reason ?? '').toBe('Succeeded');
      expect(job.progress).toMatchObject({ bytes: reference.bytes, rows: PG_ROWS });
      const csv = await blobBytes('sales.csv');
      expect(csv.length).toBe(reference.bytes);
      expect(sha256(csv)).toBe(reference.sha256);
      expect(job.sha256).toBe(reference.sha256);
    },
    180_000,
  );

  it.runIf(myFound)(
    `copies ${MY_ROWS.toLocaleString('en')} MariaDB rows to a blob as CSV and NDJSON, row-exact with mariadb --batch`,
    async () => {
      // NULLs, DECIMAL and BIGINT as text, DATETIME/DATE/TIMESTAMP as ISO text, VARBINARY as base64.
      for (const format of ['csv', 'ndjson'] as const) {
        const name = `shop/t.${format}`;
        const submitted = await submit('blob-ir', 'my:SELECT * FROM t ORDER BY id', `blob:${name}`, [
          '--format',
          format,
        ]);
        const job = await finished(submitted.id, 120_000);
        expect(job.state, job.reason ?? '').toBe('Succeeded');
        expect(job.progress.rows).toBe(MY_ROWS);
        // What the blob holds, read back with the SDK: the bytes the job reported, and the rows.
        const bytes = await blobBytes(name);
        expect(sha256(bytes)).toBe(job.sha256);
        const text = bytes.toString('utf8');
        if (format === 'csv') {
          expect(text.split('\n')[5]).toContain(',"",');
          expectCsvRowExact(text, myReference);
        } else expectNdjsonRowExact(text, myReference);
      }
    },
    240_000,
  );

  it('writes with a SAS that may only create and write (no read, no list)', async () => {
    const submitted = await submit('blob-ir', 'files:in/big.bin', 'blobwo:wo/big.bin');
    const job = await finished(submitted.id);
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(sha256(await blobBytes('wo/big.bin'))).toBe(sha256(big));
  });

  it('leaves no blob visible when the job is cancelled mid-upload', async () => {
    const submitted = await submit('blob-ir', 'web:slow/16000000', 'blob:cancelled.bin');
    await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 3 * 1024 * 1024, 30_000);
    // Some blocks are staged by now, uncommitted.
    const staged = await container.getBlockBlobClient('cancelled.bin').getBlockList('uncommitted');
    expect(staged.uncommittedBlocks?.length ?? 0).toBeGreaterThan(0);
    expect((await cp.admin(['job', 'cancel', submitted.id])).code).toBe(0);
    const job = await finished(submitted.id, 10_000);
    expect(job.state).toBe('Cancelled');
    await sleep(500);
    expect(await container.getBlobClient('cancelled.bin').exists()).toBe(false);
    const names: string[] = [];
    for await (const item of container.listBlobsFlat()) names.push(item.name);
    expect(names).not.toContain('cancelled.bin');
  });

  it('retries a cut upload and re-uses the blocks already staged', async () => {
    const before = relay.stagedBlocks();
    relay.arm(10 * 1024 * 1024);
    const submitted = await submit('blob-ir', 'files:in/big.bin', 'blobrelay:retried.bin');
    const job = await finished(submitted.id);
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    const resumedAt = Number(/Resuming the copy at byte (\d+)/.exec(job.note ?? '')?.[1]);
    expect(resumedAt, job.note ?? '').toBeGreaterThan(0);
    expect(resumedAt % (1024 * 1024)).toBe(0);
    expect(sha256(await blobBytes('retried.bin'))).toBe(sha256(big));
    expect(job.sha256).toBe(sha256(big));
    const committed = (await container.getBlockBlobClient('retried.bin').getBlockList('committed'))
      .committedBlocks;
    expect(committed?.map((b) => b.name)).toEqual(
      Array.from({ length: 21 }, (_, i) => blockIdFor(submitted.id, i * 1024 * 1024)),
    );
    // 21 blocks in all; those before the resume point were not sent again.
    const sent = relay.stagedBlocks() - before;
    expect(sent).toBeLessThanOrEqual(21 + 3);
    expect(sent).toBeGreaterThanOrEqual(21);
  });

  it('resumes a cut download with Range at the byte reached, byte-exact', async () => {
    const before = relay.ranges().length;
    // Past 16 MiB down, the 5th range is on its way: it starts only once the 1st was handed on,
    // so the first 4 MiB at least are through and the retry has a byte to resume at.
    relay.arm(18 * 1024 * 1024, { direction: 'down' });
    const submitted = await submit('blob-ir', 'blobrelay:out/big.bin', 'staging');
    const job = await finished(submitted.id);
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    const resumedAt = Number(/Resuming the copy at byte (\d+)/.exec(job.note ?? '')?.[1]);
    expect(resumedAt, job.note ?? '').toBeGreaterThan(0);
    // 4 MiB ranges: the first try from 0; the retry asked from the byte reached, not from 0 again.
    const ranges = relay.ranges().slice(before);
    expect(ranges.filter((start) => start === 0)).toHaveLength(1);
    expect(ranges).toContain(resumedAt);
    expect(sha256(fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id)))).toBe(sha256(big));
    expect(job.sha256).toBe(sha256(big));
  });

  it('fails each bad credential with its own code, without retrying', async () => {
    const cases: [string, string, string][] = [
      ['files:in/big.bin', 'blobbadkey:x.bin', 'BLOB_AUTH_FAILED'],
      ['files:in/big.bin', 'blobro:x.bin', 'BLOB_PERMISSION_DENIED'],
      ['files:in/big.bin', 'blobexpired:x.bin', 'BLOB_SAS_EXPIRED'],
      ['files:in/big.bin', 'blobnocontainer:x.bin', 'BLOB_NOT_FOUND'],
      ['blob:no/such.bin', 'files:never.bin', 'BLOB_NOT_FOUND'],
      ['blobbadkey:out/big.bin', 'files:never.bin', 'BLOB_AUTH_FAILED'],
    ];
    for (const [source, sink, code] of cases) {
      const submitted = await submit('blob-ir', source, sink);
      const job = await finished(submitted.id);
      expect(job, `${source} → ${sink}`).toMatchObject({ state: 'Failed', reasonCode: code });
      expect(job.note ?? '').not.toMatch(/try 2/);
      expect(job.reason).not.toContain(AZURITE_KEY);
    }
    expect(await container.getBlobClient('x.bin').exists()).toBe(false);
    expect(fs.existsSync(path.join(dataRoot, 'never.bin'))).toBe(false);
  });

  describe.runIf(opensslAvailable)('over HTTPS (Azurite with a certificate from a test CA)', () => {
    let secure: Azurite;
    let ca: TestCa;
    let secureContainer: ContainerClient;

    beforeAll(async () => {
      ca = new TestCa();
      const leaf = ca.issue('azurite', { cn: '127.0.0.1', san: 'IP:127.0.0.1' });
      secure = await startAzurite({ tls: { cert: leaf.cert, key: leaf.key } });
      // The SDK's `agent` option (an http.Agent per client) is how this test trusts the test CA.
      const agent = new https.Agent({ ca: fs.readFileSync(ca.cert) });
      secureContainer = new BlobServiceClient(
        secure.accountUrl,
        new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
        { agent } as StoragePipelineOptions,
      ).getContainerClient('exports');
      await secureContainer.create();
    }, 60_000);

    it('refuses an endpoint whose certificate this node does not trust: BLOB_TLS_UNTRUSTED', async () => {
      const set = await blobCredential(node, 'blobtls', {
        auth: 'key',
        secret: AZURITE_KEY,
        url: secure.accountUrl,
      });
      expect(set.code, set.stderr).toBe(0);
      const submitted = await submit('blob-ir', 'files:in/big.bin', 'blobtls:x.bin');
      const job = await finished(submitted.id);
      expect(job).toMatchObject({ state: 'Failed', reasonCode: 'BLOB_TLS_UNTRUSTED' });
      expect(job.note ?? '').not.toMatch(/try 2/);
    });

    it.runIf(tinyproxyAvailable)(
      'sends blob traffic through the authenticated proxy, TLS inside (its log shows the CONNECTs to Azurite)',
      async () => {
        const proxy = await startTinyproxy({
          connectPorts: [cp.port, secure.port],
          basicAuth: { user: 'alice', password: 'proxy-pw' },
        });
        // This node trusts the test CA the way a user would: NODE_EXTRA_CA_CERTS.
        const proxied = makeNode({ NODE_EXTRA_CA_CERTS: ca.cert }, 'blob-proxied');
        await proxied.startHost();
        const set = await proxied.cli(
          [
            'proxy',
            'set',
            '--json',
            '--mode',
            'custom',
            '--address',
            '127.0.0.1',
            '--port',
            String(proxy.port),
            '--user',
            'alice',
            '--password-stdin',
          ],
          'proxy-pw',
        );
        expect(set.code, set.stderr).toBe(0);
        expect((await proxied.cli(['config', 'allow-folder', dataRoot])).code).toBe(0);
        expect(
          (await proxied.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot]))
            .code,
        ).toBe(0);
        expect(
          (
            await blobCredential(proxied, 'blob', {
              auth: 'key',
              secret: AZURITE_KEY,
              url: secure.accountUrl,
            })
          ).code,
        ).toBe(0);
        const proxyKey = (await admin<{ key1: string }>(['ir', 'create', 'blob-proxy-ir'])).key1;
        const registered = await proxied.cli(['register', '--key-stdin', '--json'], proxyKey);
        expect(registered.code, registered.stderr).toBe(0);
        const toAzurite = () => proxy.connects().filter((line) => line.includes(`:${secure.port}`)).length;
        expect(toAzurite()).toBe(0);
        const submitted = await submit('blob-proxy-ir', 'files:in/big.bin', 'blob:proxied/big.bin');
        const job = await finished(submitted.id);
        expect(job.state, job.reason ?? '').toBe('Succeeded');
        expect(sha256(await secureContainer.getBlobClient('proxied/big.bin').downloadToBuffer())).toBe(
          sha256(big),
        );
        expect(toAzurite()).toBeGreaterThan(0);
        // And back: blob → local folder through the same proxy.
        const back = await submit('blob-proxy-ir', 'blob:proxied/big.bin', 'files:proxied-back.bin');
        expect((await finished(back.id)).state).toBe('Succeeded');
        expect(sha256(fs.readFileSync(path.join(dataRoot, 'proxied-back.bin')))).toBe(sha256(big));
      },
      // A second host started, registered and two copies: past 60 s on a loaded 2-core machine.
      150_000,
    );
  });
});
