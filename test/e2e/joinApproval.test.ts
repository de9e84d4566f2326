import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/control-plane/jobStore';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type StatusJson, type TestNode } from '../helpers/node';
import { cleanupTempDirs, filesContaining, tempDir } from '../helpers/tmp';

/**
 * Joining needs approval, with two real host processes and the real control
 * plane (security review, HIGH): before `ir approve` the second node gets no
 * credential (not in its data directory, not in its process memory) and no
 * job; after it, both. Then its sync key changes: its peer refuses it and goes
 * Limited, naming it, until the admin approves the new key.
 */

interface NodesJson {
  status: string;
  nodes: {
    name: string;
    status: string;
    approval: string;
    peerKey: string | null;
    approvedPeerKey: string | null;
    syncKeyFingerprint: string | null;
  }[];
}
type Status = StatusJson & {
  syncKeyFingerprint?: string | null;
  lastError: StatusJson['lastError'] & { fix?: string };
};

/** A secret no other test uses, so finding it anywhere means it came from here. */
const SECRET = `join-secret-${randomBytes(12).toString('hex')}`;
const ENV = { OPENIR_PEER_SYNC_INTERVAL_MS: '500', OPENIR_VAULT: 'file' };

/**
 * Whether a process's memory holds `needle` (as one-byte or two-byte text): every readable,
 * writable private mapping read through /proc/<pid>/mem, as a memory dump would hold it.
 */
function memoryContains(pid: number, needle: string): boolean {
  const forms = [Buffer.from(needle, 'latin1'), Buffer.from(needle, 'utf16le')];
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n');
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  const overlap = forms[1]!.length;
  try {
    for (const line of maps) {
      const [range, perms] = line.split(/\s+/);
      if (!perms?.startsWith('rw')) continue;
      const [start, end] = (range ?? '').split('-').map((hex) => BigInt(`0x${hex}`)) as [bigint, bigint];
      for (let at = start; at < end; at += BigInt(chunk.length - overlap)) {
        const want = Number(end - at < BigInt(chunk.length) ? end - at : BigInt(chunk.length));
        let read = 0;
        try {
          read = fs.readSync(fd, chunk, 0, want, at);
        } catch {
          break; // a guard page or a mapping that went away: nothing readable there
        }
        const view = chunk.subarray(0, read);
        if (forms.some((form) => view.includes(form))) return true;
        if (read < want) break;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return false;
}

describe('joining needs approval: two real nodes', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  const first = makeNode(ENV, 'trust1');
  const second = makeNode(ENV, 'trust2');
  const files = tempDir('openir-join-files-');
  fs.writeFileSync(path.join(files, 'data.txt'), 'rows from the pending node\n');

  const irNodes = () => cp.adminOk<NodesJson>(['ir', 'nodes', 'trust-ir']);
  const status = async (node: TestNode) => (await node.cli(['status', '--json'])).json as Status;
  const credentialNames = async (node: TestNode) =>
    (
      (await node.cli(['credential', 'list', '--json'])).json as { credentials: { name: string }[] }
    ).credentials.map((c) => c.name);
  const waitFor = async <T>(
    what: string,
    read: () => Promise<T>,
    ok: (v: T) => boolean,
    timeoutMs = 30_000,
  ) => {
    const deadline = Date.now() + timeoutMs;
    let last = await read();
    while (!ok(last)) {
      if (Date.now() > deadline) throw new Error(`${what} never happened; last: ${JSON.stringify(last)}`);
      await sleep(200);
      last = await read();
    }
    return last;
  };

  beforeAll(async () => {
    cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 3_000 });
    key = (await cp.createIr('trust-ir')).key1;
    await Promise.all([first.startHost(), second.startHost()]);
  }, 60_000);

  afterAll(async () => {
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('the second node waits Pending: no credential in its data directory, vault or memory, no job', async () => {
    await first.enableRemoteAccess();
    const registered = await first.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code, registered.stderr).toBe(0);
    expect((registered.json as Status).status).toBe('Online');
    const set = await first.cli(
      [
        'credential',
        'set',
        'web',
        '--type',
        'http',
        '--base-url',
        'http://127.0.0.1:9/',
        '--secret-stdin',
        '--json',
      ],
      `${SECRET}\n`,
    );
    expect(set.code, set.stderr).toBe(0);

    await second.enableRemoteAccess();
    const joined = await second.cli(['register', '--key-stdin', '--json'], key);
    expect(joined.code, joined.stderr).toBe(0);
    const pending = await second.waitForStatus((s) => s.status === 'Pending');
    const fingerprint = (pending as Status).syncKeyFingerprint ?? '';
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(pending.lastError).toMatchObject({ code: 'NODE_PENDING_APPROVAL' });
    // The fingerprint the node shows is the one the control plane got.
    const listed = await irNodes();
    expect(listed.nodes.find((n) => n.name === 'trust2')).toMatchObject({
      approval: 'pending',
      syncKeyFingerprint: fingerprint,
    });
    expect(listed.status).toBe('Online');
    // `openir status` for people: Pending, the fingerprint, and the admin's command.
    const text = await second.cli(['status']);
    expect(text.stdout).toMatch(/Status:\s+Pending/);
    expect(text.stdout).toContain(`Sync key:`);
    expect(text.stdout).toContain(`ir approve 'trust-ir' trust2 --fingerprint ${fingerprint}`);

    // The pending node sets up a local folder of its own, for the job below.
    const local = await second.cli([
      'credential',
      'set',
      'bfiles',
      '--type',
      'localFolder',
      '--root',
      files,
      '--json',
    ]);
    expect(local.code, local.stderr).toBe(0);
    expect((await second.cli(['config', 'allow-folder', files, '--json'])).code).toBe(0);
    // Many sync rounds and heartbeats with both running: no credential of the IR reaches the pending node.
    await sleep(4_000);
    expect(await credentialNames(second)).toEqual(['bfiles']);
    expect(filesContaining(second.home, SECRET)).toEqual([]);
    const pid = (await status(second)).host.pid;
    expect(memoryContains(pid, SECRET)).toBe(false);
    // Nor does the pending node's own credential reach the first.
    expect(await credentialNames(first)).toEqual(['web']);

    // Only the pending node could take a job now (the first node's service is stopped): it gets none.
    expect((await first.cli(['stop', '--json'])).code).toBe(0);
    const job = await cp.adminOk<JobView>([
      'job',
      'submit',
      '--ir',
      'trust-ir',
      '--source',
      'bfiles:data.txt',
      '--sink',
      'staging',
    ]);
    await sleep(3_000);
    expect(await cp.adminOk<JobView>(['job', 'show', job.id])).toMatchObject({ state: 'Queued', node: null });

    // Approve with the fingerprint the node shows: credentials and jobs follow.
    const approved = await cp.adminOk<{ was: string }>([
      'ir',
      'approve',
      'trust-ir',
      'trust2',
      '--fingerprint',
      fingerprint,
    ]);
    expect(approved.was).toBe('pending');
    // The queued job goes to it at once (the approval wakes the server).
    const done = await cp.waitJob(
      job.id,
      (j) => ['Succeeded', 'Failed', 'Cancelled'].includes(j.state),
      60_000,
    );
    expect(done, JSON.stringify(done)).toMatchObject({ state: 'Succeeded', node: { name: 'trust2' } });
    await second.waitForStatus((s) => s.status === 'Online');
    expect((await first.cli(['start', '--json'])).code).toBe(0);
    await waitFor(
      'the credential synced to the approved node',
      () => credentialNames(second),
      (c) => c.includes('web'),
    );
    await waitFor(
      'its own credential synced to the first',
      () => credentialNames(first),
      (c) => c.includes('bfiles'),
    );
    // The scan above would have seen the secret: now that it was synced, it is in this process's memory.
    expect(memoryContains(pid, SECRET)).toBe(true);
    // Sealed in the vault, never in plain text on disk.
    expect(filesContaining(second.home, SECRET)).toEqual([]);
  }, 180_000);

  it('a sync key that changes without approval: the peer refuses it and goes Limited, naming it; approval again heals', async () => {
    const before = (await status(second)).syncKeyFingerprint;
    await second.kill('SIGTERM');
    // The node's sync key is lost (as after a partial restore) or replaced: on start it makes a new one.
    const secretsFile = path.join(second.home, 'vault', 'secrets.json');
    const vault = JSON.parse(fs.readFileSync(secretsFile, 'utf8')) as { entries: Record<string, string> };
    expect(vault.entries['peer-sync-key']).toBeDefined();
    delete vault.entries['peer-sync-key'];
    fs.writeFileSync(secretsFile, JSON.stringify(vault));
    await second.startHost();
    const changed = await second.waitForStatus(
      (s) =>
        (s as Status).syncKeyFingerprint !== before &&
        s.lastError?.code === 'PEER_KEY_CHANGED' &&
        s.status === 'Limited',
    );
    const newFingerprint = (changed as Status).syncKeyFingerprint ?? '';
    expect(newFingerprint).toMatch(/^SHA256:/);
    expect(changed.status).toBe('Limited');

    const limited = await first.waitForStatus(
      (s) => s.status === 'Limited' && s.lastError?.code === 'PEER_KEY_CHANGED',
    );
    expect(limited.lastError?.message).toContain("'trust2'");
    expect(limited.lastError?.message).toContain(newFingerprint);
    expect((limited as Status).lastError.fix).toContain(
      `ir approve <ir> trust2 --fingerprint ${newFingerprint}`,
    );
    const ir = await waitFor('the control plane to show both Limited', irNodes, (v) =>
      v.nodes.every((n) => n.status === 'Limited'),
    );
    const row = ir.nodes.find((n) => n.name === 'trust2');
    expect(row?.approvedPeerKey).not.toBe(row?.peerKey);
    expect((await first.cli(['logs', '--json'])).stdout).toMatch(
      /Refusing to sync credentials with peer 'trust2': its sync key changed/,
    );
    // A credential changed on the first node now does not reach the node with the unapproved key.
    const rotated = `${SECRET}-rotated`;
    expect(
      (
        await first.cli(
          [
            'credential',
            'set',
            'web2',
            '--type',
            'http',
            '--base-url',
            'http://127.0.0.1:9/',
            '--secret-stdin',
            '--json',
          ],
          `${rotated}\n`,
        )
      ).code,
    ).toBe(0);
    await sleep(3_000);
    expect(await credentialNames(second)).not.toContain('web2');
    expect(memoryContains((await status(second)).host.pid, rotated)).toBe(false);

    // The old fingerprint is refused; the new one, compared and approved, heals both.
    const stale = await cp.admin(['ir', 'approve', 'trust-ir', 'trust2', '--fingerprint', before ?? '']);
    expect((stale.json as { error: { code: string } }).error.code).toBe('SYNC_KEY_FINGERPRINT_MISMATCH');
    await cp.adminOk(['ir', 'approve', 'trust-ir', 'trust2', '--fingerprint', newFingerprint]);
    await first.waitForStatus((s) => s.status === 'Online');
    await second.waitForStatus((s) => s.status === 'Online');
    await waitFor(
      'web2 synced after the new approval',
      () => credentialNames(second),
      (c) => c.includes('web2'),
    );
  }, 180_000);
});
