import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';
import {
  blobCredentialArgs,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteAvailable,
  startAzurite,
  stopAllAzurites,
  type Azurite,
} from '../helpers/azurite';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { startCuttingRelay, type CuttingRelay } from '../helpers/cuttingRelay';
import { startDataServer } from '../helpers/dataServer';
import { makeNode, stopAllNodes, type StatusJson } from '../helpers/node';
import {
  findPostgresBin,
  postgresCredentialArgs,
  startPostgres,
  stopAllPostgres,
  type RunningPostgres,
} from '../helpers/postgres';
import { findSshd, sftpCredentialArgs, startSshd, stopAllSshd, type RunningSshd } from '../helpers/sshd';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

/**
 * SFTP as a source and a sink, end to end with real processes: Debian's
 * OpenSSH sshd on a free loopback port with its own host key
 * (test/helpers/sshd.ts), the control plane, an OpenIR host, PostgreSQL and
 * Azurite. Files are compared by SHA-256, a table row for row with psql's own
 * export; failures by their code, and whether they were tried again.
 */

const sshd = findSshd();
if (!sshd.found) console.warn(`Skipping the SFTP tests: ${sshd.reason}`);
const pgFound = findPostgresBin();

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const PG_PASSWORD = `pw-${randomBytes(10).toString('hex')}`;
const ROWS = 20_000;

/** CSV rows as PostgreSQL's COPY TO CSV writes them back (NULL empty, quotes doubled). */
function salesCsv(rows: number): string {
  const lines = ['id,amount,label,day'];
  for (let id = 1; id <= rows; id += 1) {
    const label = id % 9 === 0 ? '' : `"item, ""${id}"""`;
    const day = new Date(Date.UTC(2024, 0, 1) + (id % 1000) * 86_400_000).toISOString().slice(0, 10);
    lines.push(`${id},${(id / 8).toFixed(3)},${label},${day}`);
  }
  return `${lines.join('\n')}\n`;
}

describe.runIf(sshd.found)('SFTP: source and sink against OpenSSH', () => {
  const HEARTBEAT = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 10_000 };
  let server: RunningSshd;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let relay: CuttingRelay;
  let pg: RunningPostgres | null = null;
  let azurite: Azurite | null = null;
  let container: ContainerClient | null = null;
  const node = makeNode({}, 'sftp-node');
  const dataRoot = tempDir('openir-sftp-data-');
  const big = randomBytes(24 * 1024 * 1024 + 123);
  const slowData = randomBytes(16 * 1024 * 1024);
  const data = startDataServer({ token: TOKEN, slowData });

  const admin = <T>(args: string[]) => cp.adminOk<T>(args);
  const submit = (source: string, sink: string, extra: string[] = []) =>
    admin<JobJson>(['job', 'submit', '--ir', 'sftp-ir', '--source', source, '--sink', sink, ...extra]);
  const waitJob = (id: string, predicate: (job: JobJson) => boolean, timeoutMs = 90_000) =>
    cp.waitJob(id, predicate, timeoutMs);
  const finished = async (source: string, sink: string, extra: string[] = []) =>
    waitJob((await submit(source, sink, extra)).id, (j) => FINAL.includes(j.state));
  /** `openir credential set <name> --type sftp …` with the server's address and the given extra flags. */
  const sftpCredential = (name: string, extra: string[], stdin = '', port = server.port) =>
    node.cli(sftpCredentialArgs(name, server, ['--json', ...extra], port), stdin);
  const remote = (relative: string) => path.join(server.root, relative);
  /** Every file under the SFTP root, hidden temp files too. */
  const remoteFiles = (dir = server.root): string[] =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .flatMap((e) =>
        e.isDirectory()
          ? remoteFiles(path.join(dir, e.name))
          : [path.relative(server.root, path.join(dir, e.name))],
      );

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    server = await startSshd();
    relay = await startCuttingRelay(() => server.port);
    fs.mkdirSync(path.join(dataRoot, 'in'));
    fs.writeFileSync(path.join(dataRoot, 'in', 'big.bin'), big);
    fs.mkdirSync(remote('in'));
    fs.writeFileSync(remote('in/big.bin'), big, { mode: 0o644 });
    fs.writeFileSync(remote('in/sales.csv'), salesCsv(ROWS), { mode: 0o644 });
    if (pgFound.bin !== null) {
      pg = await startPostgres();
      await pg.sql(`CREATE ROLE writer LOGIN PASSWORD '${PG_PASSWORD}'; CREATE DATABASE shop OWNER writer;`);
      await pg.sql(
        'SET ROLE writer; CREATE TABLE sales (id integer, amount numeric(12,3), label text, day date);',
        'shop',
      );
    }
    if (azuriteAvailable) {
      azurite = await startAzurite();
      container = new BlobServiceClient(
        azurite.accountUrl,
        new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      ).getContainerClient('exports');
      await container.create();
      await container.getBlockBlobClient('in/big.bin').uploadData(big);
    }
    cp = await startControlPlane(HEARTBEAT);
    const key = (await admin<{ key1: string }>(['ir', 'create', 'sftp-ir'])).key1;
    await node.startHost();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    expect(
      (await node.cli(['credential', 'set', 'files', '--type', 'localFolder', '--root', dataRoot])).code,
    ).toBe(0);
    const webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    expect(
      (
        await node.cli(
          ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin'],
          `${TOKEN}\n`,
        )
      ).code,
    ).toBe(0);
    const pin = ['--host-key', server.fingerprint];
    const sets: [string, string[], string, number?][] = [
      ['sftp', [...pin, '--secret-stdin'], `${server.password}\n`],
      [
        'sftpkey',
        [...pin, '--private-key-file', server.passphraseKeyFile, '--passphrase-stdin'],
        server.passphrase,
      ],
      ['sftpbad', [...pin, '--secret-stdin'], 'not-the-password\n'],
      // Another server's key pinned: as if this server's key had changed since.
      ['sftpchanged', ['--host-key', `SHA256:${'x'.repeat(43)}`, '--secret-stdin'], `${server.password}\n`],
      ['sftprelay', [...pin, '--private-key-file', server.keyFile], '', relay.port],
    ];
    for (const [name, extra, stdin, port] of sets) {
      const set = await sftpCredential(name, extra, stdin, port);
      expect(set.code, set.stderr).toBe(0);
    }
    if (pg) {
      const set = await node.cli(postgresCredentialArgs('pg', pg, { user: 'writer' }), `${PG_PASSWORD}\n`);
      expect(set.code, set.stderr).toBe(0);
    }
    if (azurite) {
      const set = await node.cli(blobCredentialArgs('blob', azurite), `${AZURITE_KEY}\n`);
      expect(set.code, set.stderr).toBe(0);
    }
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code).toBe(0);
    expect((registered.json as StatusJson).status).toBe('Online');
  }, 180_000);

  afterAll(async () => {
    data.server.closeAllConnections();
    data.server.close();
    relay?.close();
    await stopAllNodes();
    await stopControlPlanes();
    await stopAllPostgres();
    await stopAllAzurites();
    await stopAllSshd();
    cleanupTempDirs();
  });

  it('keeps the password, the private key and its passphrase in the vault only', async () => {
    const list = await node.cli(['credential', 'list', '--json']);
    expect(list.code).toBe(0);
    const views = (list.json as { credentials: Record<string, unknown>[] }).credentials;
    expect(views.find((c) => c.name === 'sftp')).toMatchObject({
      type: 'sftp',
      host: server.host,
      port: server.port,
      user: server.user,
      root: server.root,
      auth: 'password',
      hostKey: server.fingerprint,
      hasSecret: true,
    });
    expect(views.find((c) => c.name === 'sftpkey')).toMatchObject({ auth: 'privateKey', hasSecret: true });
    const keyBody = fs.readFileSync(server.passphraseKeyFile, 'utf8').split('\n')[1] as string;
    for (const secret of [server.password, server.passphrase, keyBody]) {
      expect(list.stdout).not.toContain(secret);
      expect(filesContaining(node.home, secret)).toEqual([]);
      expect(node.output()).not.toContain(secret);
    }
    const file = fs
      .readdirSync(node.home, { recursive: true, encoding: 'utf8' })
      .find((f) => path.basename(f) === 'credentials.json');
    const credentialsJson = fs.readFileSync(path.join(node.home, file ?? 'credentials.json'), 'utf8');
    expect(credentialsJson).toContain(server.fingerprint);
    expect(credentialsJson).not.toContain(server.password);
    const human = await node.cli(['credential', 'list']);
    expect(human.stdout).toMatch(
      /sftpkey\s+sftp\s+openir-sftp-test@127\.0\.0\.1:\d+\/\S+\s+host key SHA256:/,
    );
  });

  it('--fetch-host-key --yes saves the fingerprint ssh-keygen -lf prints; without --yes and a terminal it refuses', async () => {
    const fetched = await sftpCredential(
      'sftpfetched',
      ['--fetch-host-key', '--yes', '--secret-stdin'],
      `${server.password}\n`,
    );
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stderr).toContain(`shows the host key ${server.fingerprint}`);
    expect((fetched.json as { hostKey: string }).hostKey).toBe(server.fingerprint);
    const unconfirmed = await sftpCredential(
      'sftpunconfirmed',
      ['--fetch-host-key', '--secret-stdin'],
      `${server.password}\n`,
    );
    expect(unconfirmed.code).not.toBe(0);
    expect((unconfirmed.json as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('needs a confirmation'),
    });
    const list = await node.cli(['credential', 'list', '--json']);
    expect(JSON.stringify(list.json)).not.toContain('sftpunconfirmed');
    const noPin = await sftpCredential('sftpnopin', ['--secret-stdin'], `${server.password}\n`);
    expect(noPin.code).not.toBe(0);
    expect(noPin.stderr).toContain('--host-key');
  });

  it('copies a local file to SFTP byte-exact, through a hidden temp name that is gone after', async () => {
    const job = await finished('files:in/big.bin', 'sftp:out/deep/big.bin');
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(job.sha256).toBe(sha256(big));
    expect(sha256(fs.readFileSync(remote('out/deep/big.bin')))).toBe(sha256(big));
    expect(remoteFiles().filter((f) => f.startsWith('out/'))).toEqual(['out/deep/big.bin']);
    // Written by the SFTP user, not by root.
    expect(fs.statSync(remote('out/deep/big.bin')).uid).not.toBe(0);
  }, 120_000);

  it('copies an SFTP file to a local folder byte-exact (private key with a passphrase)', async () => {
    const job = await finished('sftpkey:in/big.bin', 'files:back/big.bin');
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(job.sha256).toBe(sha256(big));
    expect(sha256(fs.readFileSync(path.join(dataRoot, 'back', 'big.bin')))).toBe(sha256(big));
  }, 120_000);

  it.runIf(pgFound.bin !== null)(
    'loads an SFTP CSV file into a PostgreSQL table, row-exact with psql \\copy',
    async () => {
      const job = await finished('sftp:in/sales.csv', 'pg:table:public.sales', ['--format', 'csv']);
      expect(job, job.reason ?? '').toMatchObject({ state: 'Succeeded', progress: { rows: ROWS } });
      const expected = sha256(fs.readFileSync(remote('in/sales.csv')));
      expect(job.sha256).toBe(expected);
      const exported = await pg!.copyCsvDigest('SELECT * FROM sales ORDER BY id', {
        database: 'shop',
        user: 'writer',
        password: PG_PASSWORD,
      });
      expect(exported.sha256).toBe(expected);
    },
    120_000,
  );

  it.runIf(azuriteAvailable)(
    'copies a blob to SFTP byte-exact',
    async () => {
      const job = await finished('blob:in/big.bin', 'sftp:fromblob/big.bin');
      expect(job.state, job.reason ?? '').toBe('Succeeded');
      expect(sha256(fs.readFileSync(remote('fromblob/big.bin')))).toBe(sha256(big));
      expect(job.sha256).toBe(sha256(big));
    },
    120_000,
  );

  it('resumes a download cut mid-file at the byte reached, byte-exact', async () => {
    // Past 10 MB down the connection breaks; the retry opens the same file (size, mtime) at the checkpoint.
    relay.arm(10 * 1024 * 1024, { direction: 'down' });
    // Staging keeps what it received, so the retry resumes there rather than rewriting a local file.
    const submitted = await submit('sftprelay:in/big.bin', 'staging');
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state));
    expect(job.state, job.reason ?? '').toBe('Succeeded');
    expect(relay.cuts()).toBe(1);
    const resumedAt = Number(/Resuming the copy at byte (\d+)/.exec(job.note ?? '')?.[1]);
    expect(resumedAt, job.note ?? '').toBeGreaterThan(0);
    expect(sha256(fs.readFileSync(path.join(cp.dataDir, 'staging', submitted.id)))).toBe(sha256(big));
    expect(job.sha256).toBe(sha256(big));
  }, 120_000);

  it('leaves neither the file nor a temp file when the job is cancelled mid-upload', async () => {
    const submitted = await submit('web:slow/16000000', 'sftp:cancelled/slow.bin');
    await waitJob(submitted.id, (j) => j.state === 'Running' && j.progress.bytes > 2 * 1024 * 1024, 30_000);
    // Half-written by now, under its temp name only.
    expect(remoteFiles().filter((f) => f.startsWith('cancelled/'))).toEqual([
      expect.stringMatching(/^cancelled\/\.slow\.bin\.[0-9a-f]{8}\.part$/),
    ]);
    expect((await cp.admin(['job', 'cancel', submitted.id])).code).toBe(0);
    const job = await waitJob(submitted.id, (j) => FINAL.includes(j.state), 15_000);
    expect(job.state).toBe('Cancelled');
    await sleep(500);
    expect(remoteFiles().filter((f) => f.startsWith('cancelled/'))).toEqual([]);
  }, 60_000);

  it('a wrong password fails with SFTP_AUTH_FAILED, and a changed host key with SFTP_HOST_KEY_MISMATCH before any sign-in; neither is retried', async () => {
    const signIns = () => (server.log().match(/(Accepted|Failed) (password|publickey)/g) ?? []).length;
    const bad = await finished('sftpbad:in/big.bin', 'files:never.bin');
    expect(bad).toMatchObject({
      state: 'Failed',
      reasonCode: 'SFTP_AUTH_FAILED',
      dataStoreCode: 'DATA_STORE_AUTH_FAILED',
      attempt: 1,
    });
    expect(bad.note ?? '').not.toMatch(/try 2/);
    const before = signIns();
    const changed = await finished('files:in/big.bin', 'sftpchanged:never.bin');
    expect(changed).toMatchObject({
      state: 'Failed',
      reasonCode: 'SFTP_HOST_KEY_MISMATCH',
      dataStoreCode: 'DATA_STORE_TLS_UNTRUSTED',
      attempt: 1,
    });
    expect(changed.reason).toContain(server.fingerprint);
    expect(changed.note ?? '').not.toMatch(/try 2/);
    // No password went to the server that showed the other key.
    expect(signIns()).toBe(before);
    expect(remoteFiles().some((f) => f.includes('never'))).toBe(false);
    expect(fs.existsSync(path.join(dataRoot, 'never.bin'))).toBe(false);
  }, 60_000);

  it('a full disk on the server fails with SFTP_DISK_FULL, not retried, and leaves no temp file', async () => {
    // A 4 MB tmpfs under the root: the 24 MB upload runs out of space (the suite runs as root).
    const full = remote('full');
    fs.mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'openir-sftp-full', full]);
    try {
      const owner = fs.statSync(server.root);
      fs.chownSync(full, owner.uid, owner.gid);
      const job = await finished('files:in/big.bin', 'sftp:full/big.bin');
      expect(job).toMatchObject({ state: 'Failed', reasonCode: 'SFTP_DISK_FULL', attempt: 1 });
      expect(job.reason).toContain('disk is full');
      expect(job.note ?? '').not.toMatch(/try 2/);
      expect(fs.readdirSync(full)).toEqual([]);
    } finally {
      execFileSync('umount', [full]);
    }
  }, 60_000);

  it('a missing file fails with SFTP_NOT_FOUND and a path out of the root is refused, without retrying', async () => {
    const missing = await finished('sftp:in/nope.bin', 'files:never.bin');
    expect(missing).toMatchObject({ state: 'Failed', reasonCode: 'SFTP_NOT_FOUND' });
    expect(missing.note ?? '').not.toMatch(/try 2/);
    const escape = await finished('sftp:../../etc/passwd', 'files:never.bin');
    expect(escape).toMatchObject({ state: 'Failed', reasonCode: 'INVALID_INPUT' });
  }, 60_000);
});
