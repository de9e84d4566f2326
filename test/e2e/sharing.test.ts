import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { adminApi as api, type AdminApiAnswer } from '../helpers/adminApi';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, stopAll as stopControlPlanes } from '../helpers/controlPlane';
import { makeNode, stopAllNodes, type TestNode } from '../helpers/node';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

/**
 * Sharing an IR between data factories, all real processes: a control plane,
 * two OpenIR hosts in factory A's IR, and factory B driving the admin REST API
 * with its own token over HTTPS (no CLI on B's side). B's job runs on A's
 * nodes; B sees nothing else of A; a credential A did not share with B is
 * refused before a byte of its store is read; unsharing stops B's new jobs;
 * the 101st link is refused.
 */

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const FINAL = ['Succeeded', 'Failed', 'Cancelled'];
const SHARED_RESOURCE = 'factories/factory-a/integrationRuntimes/shared-ir';
const HTTP_TOKEN = `tok-${randomBytes(12).toString('hex')}`;

type Answer = AdminApiAnswer;

const errorOf = (answer: Answer) => answer.body.error as { code: string; message: string; fix?: string };

describe('sharing an IR with another data factory (linked IRs, credential scoping)', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let tokenA = '';
  let tokenB = '';
  const node1 = makeNode({}, 'node1');
  const node2 = makeNode({}, 'node2');
  const dataRoot = tempDir('openir-share-data-');
  const payload = randomBytes(2 * 1024 * 1024 + 17);
  // A's private HTTP store: every request is recorded, so "no byte read" is checked as "no request".
  const secretBytes = randomBytes(64 * 1024);
  const storeRequests: string[] = [];
  const store = http.createServer((req, res) => {
    storeRequests.push(req.url ?? '');
    if (req.headers.authorization !== `Bearer ${HTTP_TOKEN}`) res.writeHead(401).end();
    else if (req.url === '/secret.bin') res.writeHead(200).end(secretBytes);
    else res.writeHead(404).end();
  });

  const asB = (method: string, urlPath: string, body?: unknown) =>
    api(cp.endpoint, method, `/api/v1/admin${urlPath}`, tokenB, body);
  const asA = (method: string, urlPath: string, body?: unknown) =>
    api(cp.endpoint, method, `/api/v1/admin${urlPath}`, tokenA, body);
  const waitJobAsB = async (id: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await asB('GET', `/jobs/${id}`);
      expect(answer.status).toBe(200);
      if (FINAL.includes(String(answer.body.state))) return answer.body;
      if (Date.now() > deadline) throw new Error(`job never finished: ${JSON.stringify(answer.body)}`);
      await sleep(200);
    }
  };

  const setUpNode = async (node: TestNode, key: string, withCredentials: boolean) => {
    await node.startHost();
    await node.enableRemoteAccess();
    expect((await node.cli(['config', 'allow-folder', dataRoot, '--json'])).code).toBe(0);
    if (withCredentials) {
      // Shared with B: B's jobs may read this folder. Set on node1 only: it reaches node2 by peer sync.
      const files = await node.cli([
        'credential',
        'set',
        'files',
        '--type',
        'localFolder',
        '--root',
        dataRoot,
        '--allow-factory',
        'factory-b',
        '--json',
      ]);
      expect(files.code, files.stderr).toBe(0);
      expect((files.json as { allowFactories: string[] }).allowFactories).toEqual(['factory-b']);
      // Not shared: A's own jobs only.
      const secret = await node.cli(
        [
          'credential',
          'set',
          'a-private',
          '--type',
          'http',
          '--base-url',
          `http://127.0.0.1:${(store.address() as AddressInfo).port}/`,
          '--secret-stdin',
          '--json',
        ],
        `${HTTP_TOKEN}\n`,
      );
      expect(secret.code, secret.stderr).toBe(0);
      expect((secret.json as { allowFactories: string[] }).allowFactories).toEqual([]);
    }
    const registered = await node.cli(['register', '--key-stdin', '--json'], key);
    expect(registered.code, registered.stderr).toBe(0);
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => store.listen(0, '127.0.0.1', resolve));
    fs.mkdirSync(path.join(dataRoot, 'in'));
    fs.writeFileSync(path.join(dataRoot, 'in', 'data.bin'), payload);
    cp = await startControlPlane({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 3000 });
    tokenA = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-a'])).token;
    tokenB = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-b'])).token;
    const ir = await cp.createIr('shared-ir', ['--factory', 'factory-a', '--join-approval', 'auto']);
    await setUpNode(node1, ir.key1, true);
    await setUpNode(node2, ir.key1, false);
    for (const node of [node1, node2]) {
      await node.waitForStatus((s) => s.status === 'Online' && s.irNodes.length === 2, 60_000);
    }
  }, 240_000);

  afterAll(async () => {
    store.closeAllConnections();
    store.close();
    await stopAllNodes();
    await stopControlPlanes();
    cleanupTempDirs();
  });

  it('A shares its IR with B; B links it through the REST API and sees its nodes (status, version, load only)', async () => {
    const shared = await cp.adminOk<{ resourceId: string }>([
      'ir',
      'share',
      'shared-ir',
      '--with',
      'factory-b',
    ]);
    expect(shared.resourceId).toBe(SHARED_RESOURCE);

    const linked = await asB('POST', '/linked-irs', { name: 'b-linked', sharedIr: SHARED_RESOURCE });
    expect(linked.status, JSON.stringify(linked.body)).toBe(201);
    expect(linked.body).toMatchObject({ name: 'b-linked', factory: 'factory-b', sharedIr: SHARED_RESOURCE });

    const view = await asB('GET', '/irs/b-linked');
    expect(view.status).toBe(200);
    const link = view.body.link as { state: string; sharedIr: string; nodes: Record<string, unknown>[] };
    expect(link.state).toBe('Linked');
    expect(link.sharedIr).toBe(SHARED_RESOURCE);
    expect(link.nodes.map((n) => n.name).sort()).toEqual(['node1', 'node2']);
    for (const node of link.nodes) {
      expect(Object.keys(node).sort()).toEqual(['jobLimit', 'name', 'runningJobs', 'status', 'version']);
    }
    // The linked IR is as up as the shared IR, in B's own list too.
    expect((view.body.summary as { status: string }).status).toBe('Online');
    const listB = await asB('GET', '/irs');
    expect(listB.body.irs).toMatchObject([{ name: 'b-linked', factory: 'factory-b', status: 'Online' }]);
    // Nothing else of A's IR: no addresses, keys or ids of its nodes.
    const text = JSON.stringify(view.body);
    expect(text).not.toMatch(/remoteAccessUrl|peerKey|nodeId|127\.0\.0\.1/);

    // The owner sees its grant and B's linked IR with its factory.
    const shares = await asA('GET', '/irs/shared-ir/shares');
    expect(shares.status).toBe(200);
    expect(shares.body).toMatchObject({
      resourceId: SHARED_RESOURCE,
      grants: [{ factory: 'factory-b' }],
      links: [{ name: 'b-linked', factory: 'factory-b', state: 'Linked' }],
      maxLinks: 100,
    });

    // The nodes of A's IR say who it is shared with (Home shows it).
    await node1.waitForStatus(
      (s) => (s.ir as { sharedWith?: string[] } | null)?.sharedWith?.join(',') === 'factory-b',
    );
  });

  it("B's job, submitted with B's token, runs on A's nodes, byte-exact; A cannot read it", async () => {
    // The scoped credential reached node2 by peer sync, allow-list included.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const list = await node2.cli(['credential', 'list', '--json']);
      const files = (
        list.json as { credentials: { name: string; allowFactories: string[] }[] }
      ).credentials.find((c) => c.name === 'files');
      if (files) {
        expect(files.allowFactories).toEqual(['factory-b']);
        break;
      }
      if (Date.now() > deadline) throw new Error('the credential never synced to node2');
      await sleep(300);
    }

    const submitted = await asB('POST', '/jobs', {
      ir: 'b-linked',
      source: 'files:in/data.bin',
      sink: 'staging',
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const id = String(submitted.body.id);
    const job = await waitJobAsB(id);
    expect(job.state, JSON.stringify(job)).toBe('Succeeded');
    expect(job.ir).toBe('b-linked');
    expect(['node1', 'node2']).toContain((job.node as { name: string }).name);
    const staged = fs.readFileSync(path.join(cp.dataDir, 'staging', id));
    expect(sha256(staged)).toBe(sha256(payload));
    expect(staged.length).toBe(payload.length);

    // The shared IR's owner does not read B's job, by id or in its list.
    const byId = await asA('GET', `/jobs/${id}`);
    expect(byId.status).toBe(404);
    expect(errorOf(byId).code).toBe('JOB_NOT_FOUND');
    const listed = await asA('GET', '/jobs');
    expect(listed.status).toBe(200);
    expect((listed.body.jobs as { id: string }[]).map((j) => j.id)).not.toContain(id);
    // B sees it in its own list.
    const mine = await asB('GET', '/jobs');
    expect((mine.body.jobs as { id: string }[]).map((j) => j.id)).toContain(id);
  });

  it("B cannot read or use A's IRs and jobs", async () => {
    const aJob = await cp.adminOk<{ id: string }>([
      'job',
      'submit',
      '--ir',
      'shared-ir',
      '--source',
      'files:in/data.bin',
      '--sink',
      'staging',
    ]);
    const refusals = [
      await asB('GET', '/irs/shared-ir'),
      await asB('GET', '/irs/shared-ir/nodes'),
      await asB('GET', '/irs/shared-ir/shares'),
      await asB('GET', '/jobs?ir=shared-ir'),
      await asB('GET', `/jobs/${aJob.id}`),
      await asB('POST', `/jobs/${aJob.id}/cancel`),
      await asB('POST', '/jobs', { ir: 'shared-ir', source: 'files:in/data.bin', sink: 'staging' }),
      await asB('POST', '/irs/shared-ir/shares', { factory: 'factory-b' }),
      await asB('DELETE', '/irs/shared-ir/shares/factory-b'),
    ];
    for (const answer of refusals) {
      expect([403, 404], JSON.stringify(answer.body)).toContain(answer.status);
      expect(['NOT_FOUND', 'IR_NOT_FOUND', 'JOB_NOT_FOUND', 'FORBIDDEN']).toContain(errorOf(answer).code);
    }
    const bIrs = await asB('GET', '/irs');
    expect((bIrs.body.irs as { name: string }[]).map((ir) => ir.name)).toEqual(['b-linked']);
    const bJobs = await asB('GET', '/jobs');
    expect((bJobs.body.jobs as { id: string }[]).map((j) => j.id)).not.toContain(aJob.id);
    await cp.waitJob(aJob.id, (j) => FINAL.includes(j.state), 60_000);
  });

  it("a job of B's naming A's unshared credential fails with CREDENTIAL_NOT_SHARED and reads no byte of that store", async () => {
    expect(storeRequests).toEqual([]);
    const submitted = await asB('POST', '/jobs', {
      ir: 'b-linked',
      source: 'a-private:secret.bin',
      sink: 'staging',
    });
    expect(submitted.status).toBe(201);
    const job = await waitJobAsB(String(submitted.body.id));
    expect(job.state).toBe('Failed');
    expect(job.reasonCode).toBe('CREDENTIAL_NOT_SHARED');
    expect(String(job.reason)).toMatch(/--allow-factory factory-b/);
    expect(storeRequests).toEqual([]);
    // Sinks are checked too: a shared source does not let B write into A's unshared store.
    const sink = await asB('POST', '/jobs', {
      ir: 'b-linked',
      source: 'files:in/data.bin',
      sink: 'a-private:out.bin',
    });
    expect((await waitJobAsB(String(sink.body.id))).reasonCode).toBe('CREDENTIAL_NOT_SHARED');
    expect(storeRequests).toEqual([]);

    // The same credential works for A's own jobs: the store log above could have seen a request.
    const own = await cp.adminOk<{ id: string }>([
      'job',
      'submit',
      '--ir',
      'shared-ir',
      '--source',
      'a-private:secret.bin',
      '--sink',
      'staging',
    ]);
    const done = await cp.waitJob(own.id, (j) => FINAL.includes(j.state), 60_000);
    expect(done.state).toBe('Succeeded');
    expect(storeRequests).toContain('/secret.bin');
  });

  it("after ir unshare, B's linked IR is Unshared and B's new jobs are refused with the reason", async () => {
    const unshared = await cp.adminOk<{ linkedIrs: string[] }>([
      'ir',
      'unshare',
      'shared-ir',
      '--with',
      'factory-b',
    ]);
    expect(unshared.linkedIrs).toEqual(['b-linked']);

    const refused = await asB('POST', '/jobs', {
      ir: 'b-linked',
      source: 'files:in/data.bin',
      sink: 'staging',
    });
    expect(refused.status).toBe(403);
    expect(errorOf(refused).code).toBe('IR_NOT_SHARED');
    expect(errorOf(refused).message).toMatch(/no longer shared with 'factory-b'/);
    expect(errorOf(refused).message).toMatch(/ir share shared-ir --with factory-b/);

    const view = await asB('GET', '/irs/b-linked');
    const link = view.body.link as { state: string; reason: string; nodes: unknown[] };
    expect(link.state).toBe('Unshared');
    expect((view.body.summary as { status: string }).status).toBe('Offline');
    expect(link.reason).toMatch(/no longer shared/);
    // Unshared: B sees none of A's nodes any more.
    expect(link.nodes).toEqual([]);

    const shares = await asA('GET', '/irs/shared-ir/shares');
    expect(shares.body).toMatchObject({ grants: [], links: [{ name: 'b-linked', state: 'Unshared' }] });
    await node1.waitForStatus((s) => (s.ir as { sharedWith?: string[] } | null)?.sharedWith === undefined);
  });

  it('refuses the 101st link of a shared IR with LINK_LIMIT_REACHED (the default 100)', async () => {
    await cp.adminOk(['ir', 'share', 'shared-ir', '--with', 'factory-b']);
    // b-linked is the first of the 100.
    for (let i = 2; i <= 100; i += 1) {
      const answer = await asB('POST', '/linked-irs', { name: `b-link-${i}`, sharedIr: SHARED_RESOURCE });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    }
    const extra = await asB('POST', '/linked-irs', { name: 'b-link-101', sharedIr: SHARED_RESOURCE });
    expect(extra.status).toBe(409);
    expect(errorOf(extra).code).toBe('LINK_LIMIT_REACHED');
    expect(errorOf(extra).message).toMatch(/100 linked IRs, its limit \(100\)/);
    expect(errorOf(extra).fix).toMatch(/--max-links/);
    const irs = await asB('GET', '/irs');
    expect((irs.body.irs as unknown[]).length).toBe(100);
  }, 180_000);

  it('a lowered limit (PATCH maxLinks, or ir update --max-links) refuses links past it', async () => {
    await cp.createIr('small-ir', ['--factory', 'factory-a']);
    await cp.adminOk(['ir', 'share', 'small-ir', '--with', 'factory-b']);
    const patched = await asA('PATCH', '/irs/small-ir', { maxLinks: 2 });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const small = 'factories/factory-a/integrationRuntimes/small-ir';
    expect((await asB('POST', '/linked-irs', { name: 's-1', sharedIr: small })).status).toBe(201);
    expect((await asB('POST', '/linked-irs', { name: 's-2', sharedIr: small })).status).toBe(201);
    const third = await asB('POST', '/linked-irs', { name: 's-3', sharedIr: small });
    expect(errorOf(third).code).toBe('LINK_LIMIT_REACHED');
    await cp.adminOk(['ir', 'update', 'small-ir', '--max-links', '3']);
    expect((await asB('POST', '/linked-irs', { name: 's-3', sharedIr: small })).status).toBe(201);
    // A factory the IR is not shared with gets the same answer as for an IR that does not exist.
    const tokenC = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-c'])).token;
    const stranger = await api(cp.endpoint, 'POST', '/api/v1/admin/linked-irs', tokenC, {
      name: 'c-link',
      sharedIr: small,
    });
    expect(stranger.status).toBe(403);
    expect(errorOf(stranger).code).toBe('IR_NOT_SHARED');
  });
});
