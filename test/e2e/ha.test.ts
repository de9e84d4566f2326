import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { startDataServer } from '../helpers/dataServer';
import { freePort, makeNode, stopAllNodes, type StatusJson, type TestNode } from '../helpers/node';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';
import type { JobView as JobJson } from '../../src/control-plane/jobStore';

/**
 * High availability with three real host processes (each its own OPENIR_HOME,
 * OPENIR_FQDN and remote-access port) and the real control plane: the join
 * rule, credential sync between nodes (sealed, over remote access with TLS),
 * failover after kill -9, Limited when peers are unreachable.
 */

interface NodesJson {
  status: string;
  nodes: { name: string; nodeId: string; status: string; version: string; remoteAccessUrl: string | null }[];
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const HEARTBEAT = { heartbeatIntervalMs: 300, heartbeatTimeoutMs: 1500 };

describe('high availability: three nodes, one IR', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let key = '';
  const env = { OPENIR_PEER_SYNC_INTERVAL_MS: '500' };
  const node1 = makeNode(env, 'ha1');
  const node2 = makeNode(env, 'ha2');
  const node3 = makeNode(env, 'ha3');
  const slowData = randomBytes(8 * 1024 * 1024);
  const data = startDataServer({ token: TOKEN, slowData });
  let webUrl = '';

  const admin = async <T>(args: string[]): Promise<T> => {
    const result = await cp.admin<T>(args);
    if (result.code !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
    return result.json;
  };
  const irNodes = () => admin<NodesJson>(['ir', 'nodes', 'ha-ir']);
  const waitFor = async <T>(
    what: string,
    read: () => Promise<T>,
    ok: (v: T) => boolean,
    timeoutMs = 20_000,
  ) => {
    const deadline = Date.now() + timeoutMs;
    let last = await read();
    while (!ok(last)) {
      if (Date.now() > deadline) throw new Error(`${what} never happened; last: ${JSON.stringify(last)}`);
      await sleep(150);
      last = await read();
    }
    return last;
  };
  const show = (id: string) => admin<JobJson>(['job', 'show', id]);
  const submit = (size: number) =>
    admin<JobJson>(['job', 'submit', '--ir', 'ha-ir', '--source', `web:slow/${size}`, '--sink', 'staging']);
  const credentialNames = async (node: TestNode) =>
    (
      (await node.cli(['credential', 'list', '--json'])).json as {
        credentials: { name: string; version: number }[];
      }
    ).credentials;
  /** Remote access with TLS: a self-signed certificate for this node, pinned by its peers. */
  const enableTls = async (node: TestNode) => {
    const created = await node.cli(['cert', 'create-self-signed', '--key', 'p256', '--json']);
    expect(created.code).toBe(0);
    const thumbprint = (created.json as { thumbprint: string }).thumbprint;
    const port = await freePort();
    const enabled = await node.cli([
      'remote-access',
      'enable',
      '--cert',
      thumbprint,
      '--port',
      String(port),
      '--json',
    ]);
    expect(enabled.code, enabled.stderr).toBe(0);
  };
  const register = async (node: TestNode) => {
    const result = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(result.code, result.stderr).toBe(0);
    expect((result.json as StatusJson).status).toBe('Online');
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => data.server.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(data.server.address() as AddressInfo).port}/`;
    cp = await startControlPlane(HEARTBEAT);
    key = (await admin<{ key1: string }>(['ir', 'create', 'ha-ir'])).key1;
    // HA here, not join approval (test/e2e/joinApproval.test.ts): nodes are let in as they join.
    await admin(['ir', 'update', 'ha-ir', '--join-approval', 'auto']);
    await Promise.all([node1.startHost(), node2.startHost(), node3.startHost()]);
  }, 60_000);

  afterAll(async () => {
    data.server.close();
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('a second node cannot join until the first has remote access; then two more join', async () => {
    await register(node1);
    const refused = await node2.cli(['register', '--key-stdin', '--json'], key);
    expect(refused.code).not.toBe(0);
    expect((refused.json as { error: { code: string } }).error.code).toBe('REMOTE_ACCESS_REQUIRED');
    expect(refused.stderr).toContain("'ha1'");
    expect(((await node2.cli(['status', '--json'])).json as StatusJson).registered).toBe(false);

    await enableTls(node1);
    await waitFor('ha1 reporting its remote access', irNodes, (ir) => ir.nodes[0]?.remoteAccessUrl !== null);
    // The joiners set remote access up before joining: once the IR has two nodes it is locked.
    await enableTls(node2);
    await register(node2);
    await node3.enableRemoteAccess();
    await register(node3);
    const ir = await waitFor(
      'three Online nodes',
      irNodes,
      (v) => v.status === 'Online' && v.nodes.length === 3,
    );
    expect(ir.nodes.map((n) => n.name)).toEqual(['ha1', 'ha2', 'ha3']);
    expect(ir.nodes.every((n) => n.status === 'Online' && n.version.length > 0)).toBe(true);
    // Every node sees the whole IR (Home lists it).
    const seen = await node3.waitForStatus((s) => s.irNodes.length === 3 && s.status === 'Online');
    expect(seen.irNodes.map((n) => n.name).sort()).toEqual(['ha1', 'ha2', 'ha3']);
  });

  it('a credential set on node 2 reaches every node and a job on node 3 uses it', async () => {
    const set = await node2.cli(
      ['credential', 'set', 'web', '--type', 'http', '--base-url', webUrl, '--secret-stdin', '--json'],
      `${TOKEN}\n`,
    );
    expect(set.code, set.stderr).toBe(0);
    for (const node of [node1, node3]) {
      await waitFor(
        'the credential synced',
        () => credentialNames(node),
        (c) => c.some((x) => x.name === 'web'),
      );
    }
    // Only node 3 may take the job: the others' services are stopped (their processes stay up).
    for (const node of [node1, node2]) expect((await node.cli(['stop', '--json'])).code).toBe(0);
    const size = 512 * 1024;
    const job = await submit(size);
    const done = await waitFor(
      'the job finished',
      () => show(job.id),
      (j) => FINAL.includes(j.state),
      30_000,
    );
    expect(done).toMatchObject({ state: 'Succeeded', node: { name: 'ha3' } });
    expect(done.sha256).toBe(sha256(slowData.subarray(0, size)));
    for (const node of [node1, node2]) expect((await node.cli(['start', '--json'])).code).toBe(0);
    await waitFor('three Online nodes', irNodes, (v) => v.status === 'Online');

    // The secret crossed the network sealed and sits in each node's vault, never in a file.
    for (const node of [node1, node2, node3]) expect(filesContaining(node.home, TOKEN)).toEqual([]);
    expect(filesContaining(cp.dataDir, TOKEN)).toEqual([]);

    // A deletion on node 3 reaches the others too.
    expect(
      (await node3.cli(['credential', 'set', 'scratch', '--type', 'localFolder', '--root', '/tmp', '--json']))
        .code,
    ).toBe(0);
    await waitFor(
      'scratch synced',
      () => credentialNames(node1),
      (c) => c.some((x) => x.name === 'scratch'),
    );
    expect((await node3.cli(['credential', 'delete', 'scratch', '--json'])).code).toBe(0);
    for (const node of [node1, node2]) {
      await waitFor(
        'the deletion synced',
        () => credentialNames(node),
        (c) => !c.some((x) => x.name === 'scratch'),
      );
    }
  });

  it('kill -9 of the node running jobs: they complete on the others, none lost or duplicated', async () => {
    // About 6 s each at the data server's pace: time to see them run and kill one node.
    const size = slowData.length;
    const jobs = await Promise.all([0, 1, 2, 3].map(() => submit(size)));
    const showAll = () => Promise.all(jobs.map((j) => show(j.id)));
    const running = await waitFor('all jobs running', showAll, (all) =>
      all.every((j) => j.state === 'Running' && j.progress.bytes > 0),
    );
    const byNode = new Map<string, string[]>();
    for (const job of running.filter((j) => j.state === 'Running'))
      byNode.set(job.node?.name ?? '?', [...(byNode.get(job.node?.name ?? '?') ?? []), job.id]);
    const [victimName, victimJobs] = [...byNode.entries()].sort((a, b) => b[1].length - a[1].length)[0] as [
      string,
      string[],
    ];
    const victim = [node1, node2, node3].find((n) =>
      n.env.OPENIR_FQDN?.startsWith(`${victimName}.`),
    ) as TestNode;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');

    const finished = await waitFor(
      'every job finished',
      showAll,
      (all) => all.every((j) => FINAL.includes(j.state)),
      60_000,
    );
    const expected = sha256(slowData.subarray(0, size));
    for (const job of finished) {
      expect(job.state).toBe('Succeeded');
      expect(job.node?.name).not.toBe(victimName);
      expect(job.sha256).toBe(expected);
      // Exactly the bytes once: no duplicate or missing data in the staged file.
      expect(sha256(fs.readFileSync(path.join(cp.dataDir, 'staging', job.id)))).toBe(expected);
      expect(job.attempt).toBe(victimJobs.includes(job.id) ? 2 : 1);
    }
    console.log(
      `kill -9 of ${victimName} (${victimJobs.length} jobs) → all done in ${Date.now() - killedAt} ms`,
    );
    const ir = await waitFor('the killed node Offline', irNodes, (v) =>
      v.nodes.some((n) => n.name === victimName && n.status === 'Offline'),
    );
    expect(ir.status).toBe('Limited');
    // The same home starts again as the same node.
    await victim.startHost();
    await waitFor('all Online again', irNodes, (v) => v.status === 'Online');
  });

  it('a node that cannot reach its peers is Limited, and Online again once it can', async () => {
    // ha3 comes back advertising an address nothing listens on: the others cannot reach it.
    await node3.kill('SIGTERM');
    node3.env.OPENIR_ADVERTISE_HOST = '127.0.0.2';
    await node3.startHost();
    const ir = await waitFor(
      'ha1 and ha2 Limited',
      irNodes,
      (v) =>
        v.nodes
          .filter((n) => n.status === 'Limited')
          .map((n) => n.name)
          .join() === 'ha1,ha2',
    );
    expect(ir.status).toBe('Limited');
    expect(ir.nodes.find((n) => n.name === 'ha3')?.status).toBe('Online');
    const local = await node1.waitForStatus((s) => s.status === 'Limited');
    expect(local.status).toBe('Limited');
    const log = await node1.cli(['logs', '--json']);
    expect(log.stdout).toMatch(/Cannot sync credentials with peer 'ha3'/);
    await node3.kill('SIGTERM');
    node3.env.OPENIR_ADVERTISE_HOST = '127.0.0.1';
    await node3.startHost();
    await waitFor(
      'all Online again',
      irNodes,
      (v) => v.status === 'Online' && v.nodes.every((n) => n.status === 'Online'),
    );
    expect((await node1.waitForStatus((s) => s.status === 'Online')).status).toBe('Online');
  });
  it('backup on node 1, wipe its home, restore: Online again as the same node, credentials kept', async () => {
    const before = ((await node1.cli(['status', '--json'])).json as StatusJson).node?.id;
    const file = path.join(path.dirname(node1.home), `ha1-${Date.now()}.openir-backup`);
    const password = 'correct horse battery staple';
    const backup = await node1.cli(['backup', '--out', file, '--password-stdin', '--json'], password);
    expect(backup.code, backup.stderr).toBe(0);
    expect(fs.readFileSync(file).includes(Buffer.from(TOKEN))).toBe(false);
    await node1.kill('SIGKILL');
    fs.rmSync(node1.home, { recursive: true, force: true });
    fs.mkdirSync(node1.home, { recursive: true });
    await node1.startHost();
    expect(((await node1.cli(['status', '--json'])).json as StatusJson).registered).toBe(false);
    const restored = await node1.cli(['restore', '--file', file, '--password-stdin', '--json'], password);
    expect(restored.code, restored.stderr).toBe(0);
    const status = await node1.waitForStatus((s) => s.status === 'Online');
    expect(status.node?.id).toBe(before);
    const ir = await waitFor('three Online nodes', irNodes, (v) => v.status === 'Online');
    expect(ir.nodes.map((n) => n.name)).toEqual(['ha1', 'ha2', 'ha3']);
    expect((await credentialNames(node1)).map((c) => c.name)).toContain('web');
    fs.rmSync(file, { force: true });
  });
});
