import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneServer } from '../../src/control-plane/server';
import { adminApi as api } from '../helpers/adminApi';
import { startControlPlane, type RunningControlPlane } from '../helpers/controlPlane';

const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string } | undefined)?.code;

describe('admin REST API: factories, tokens, scoping (a real control plane process)', () => {
  let cp: RunningControlPlane;
  let adminToken = '';
  let tokenA = '';
  let tokenB = '';

  beforeAll(async () => {
    cp = await startControlPlane();
    adminToken = fs.readFileSync(path.join(cp.dataDir, 'admin-token'), 'utf8').trim();
    tokenA = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-a'])).token;
    tokenB = (await cp.adminOk<{ token: string }>(['factory', 'create', 'factory-b'])).token;
  }, 60_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('writes the instance-admin token owner-only on first start, and keeps only hashes in the database', () => {
    const file = path.join(cp.dataDir, 'admin-token');
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(adminToken).toMatch(/^oirt_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
    const db = fs.readFileSync(path.join(cp.dataDir, 'control-plane.db'));
    for (const token of [adminToken, tokenA, tokenB]) {
      expect(db.includes(Buffer.from(token.split('.')[1] ?? 'x'))).toBe(false);
    }
  });

  it('refuses a request without a token, with a malformed one, and with a made-up one: 401 and the fix', async () => {
    for (const token of [undefined, 'nope', `oirt_000000000000.${'A'.repeat(43)}`]) {
      const answer = await api(cp.endpoint, 'GET', '/api/v1/admin/irs', token);
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({
        code: 'UNAUTHORIZED',
        fix: expect.stringContaining('admin-token'),
      });
    }
  });

  it("scopes each factory to its own IRs and jobs: B cannot list, read, change or submit to A's IR", async () => {
    const created = await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenA, {
      name: 'a-ir',
      joinApproval: 'auto',
    });
    expect(created.status).toBe(201);
    expect(String(created.body.key1)).toMatch(/^IR@/);
    // The existing CLI sees it too, in factory-a.
    const listed = await cp.adminOk<{ factories: { name: string; irs: number }[] }>(['factory', 'list']);
    expect(listed.factories.find((f) => f.name === 'factory-a')?.irs).toBe(1);

    const ofA = await api(cp.endpoint, 'GET', '/api/v1/admin/irs', tokenA);
    expect((ofA.body.irs as { name: string; factory: string }[]).map((ir) => [ir.name, ir.factory])).toEqual([
      ['a-ir', 'factory-a'],
    ]);
    const ofB = await api(cp.endpoint, 'GET', '/api/v1/admin/irs', tokenB);
    expect(ofB.body.irs).toEqual([]);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs/a-ir', tokenB)).status).toBe(404);
    expect((await api(cp.endpoint, 'PATCH', '/api/v1/admin/irs/a-ir', tokenB, { maxNodes: 2 })).status).toBe(
      404,
    );
    const submitByB = await api(cp.endpoint, 'POST', '/api/v1/admin/jobs', tokenB, {
      ir: 'a-ir',
      source: 'files:in.csv',
      sink: 'staging',
    });
    expect(submitByB.status).toBe(404);
    expect(errorCode(submitByB.body)).toBe('IR_NOT_FOUND');

    const job = await api(cp.endpoint, 'POST', '/api/v1/admin/jobs', tokenA, {
      ir: 'a-ir',
      source: 'files:in.csv',
      sink: 'staging',
    });
    expect(job.status).toBe(201);
    expect(job.body).toMatchObject({ ir: 'a-ir', state: 'Queued' });
    const id = String(job.body.id);
    expect((await api(cp.endpoint, 'GET', `/api/v1/admin/jobs/${id}`, tokenA)).body).toMatchObject({ id });
    expect((await api(cp.endpoint, 'GET', `/api/v1/admin/jobs/${id}`, tokenB)).status).toBe(404);
    expect((await api(cp.endpoint, 'POST', `/api/v1/admin/jobs/${id}/cancel`, tokenB)).status).toBe(404);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/jobs', tokenB)).body.jobs).toEqual([]);
    // The instance admin sees every factory.
    const all = await api(cp.endpoint, 'GET', '/api/v1/admin/jobs', adminToken);
    expect((all.body.jobs as { id: string }[]).map((j) => j.id)).toContain(id);
    const cancelled = await api(cp.endpoint, 'POST', `/api/v1/admin/jobs/${id}/cancel`, tokenA);
    expect(cancelled.body).toMatchObject({ id, state: 'Cancelled' });
  });

  it('pages the job list with a cursor: no job twice, none left out', async () => {
    await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenB, { name: 'b-ir' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const job = await api(cp.endpoint, 'POST', '/api/v1/admin/jobs', tokenB, {
        ir: 'b-ir',
        source: `files:in-${i}.csv`,
        sink: 'staging',
      });
      ids.push(String(job.body.id));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Record<string, unknown> } = await api(
        cp.endpoint,
        'GET',
        `/api/v1/admin/jobs?ir=b-ir&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        tokenB,
      );
      expect(page.status).toBe(200);
      const jobs = page.body.jobs as { id: string }[];
      expect(jobs.length).toBeLessThanOrEqual(2);
      seen.push(...jobs.map((j) => j.id));
      cursor = page.body.next as string | null;
    } while (cursor !== null);
    expect(seen).toEqual([...ids].reverse());
  });

  it('checks bodies with the schemas: an unknown field or a wrong type is INVALID_INPUT naming it', async () => {
    const bad = await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenA, { name: 'x', maxNodes: 'ten' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('maxNodes'),
    });
    const extra = await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenA, { name: 'x', owner: 'me' });
    expect(extra.status).toBe(400);
  });

  it('keeps factory administration to the instance admin, and a factory token inside its factory', async () => {
    const byFactory = await api(cp.endpoint, 'POST', '/api/v1/admin/factories', tokenA, { name: 'c' });
    expect(byFactory.status).toBe(403);
    expect(errorCode(byFactory.body)).toBe('FORBIDDEN');
    const elsewhere = await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenA, {
      name: 'sneaky',
      factory: 'factory-b',
    });
    expect(errorCode(elsewhere.body)).toBe('FORBIDDEN');
    const made = await api(cp.endpoint, 'POST', '/api/v1/admin/factories', adminToken, { name: 'factory-c' });
    expect(made.status).toBe(201);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs', String(made.body.token))).status).toBe(200);
  });

  it('deletes an IR only once it has no nodes', async () => {
    await api(cp.endpoint, 'POST', '/api/v1/admin/irs', tokenA, { name: 'short-lived' });
    const deleted = await api(cp.endpoint, 'DELETE', '/api/v1/admin/irs/short-lived', tokenA);
    expect(deleted.body).toMatchObject({ name: 'short-lived', deleted: true });
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs/short-lived', tokenA)).status).toBe(404);
  });

  it('rotation revokes the old token at once; revoke ends one token', async () => {
    const rotated = await cp.adminOk<{ token: string; revoked: string[] }>([
      'factory',
      'tokens',
      'factory-a',
      '--rotate',
    ]);
    expect(rotated.revoked).toHaveLength(1);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs', tokenA)).status).toBe(401);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs', rotated.token)).status).toBe(200);
    const listing = await cp.adminOk<{ tokens: { id: string; revokedAt: string | null }[] }>([
      'factory',
      'tokens',
      'factory-a',
    ]);
    const live = listing.tokens.filter((t) => t.revokedAt === null);
    expect(live).toHaveLength(1);
    await cp.adminOk(['factory', 'tokens', 'factory-a', '--revoke', live[0]?.id ?? '']);
    expect((await api(cp.endpoint, 'GET', '/api/v1/admin/irs', rotated.token)).status).toBe(401);
    tokenA = '';
  });

  it('rate-limits failed token checks per address: RATE_LIMITED, even for a good token, until the window ends', async () => {
    // The earlier tests spent some of this address's budget; spend the rest.
    let limited = false;
    for (let i = 0; i < 12 && !limited; i += 1) {
      limited = (await api(cp.endpoint, 'GET', '/api/v1/admin/irs', 'wrong')).status === 429;
    }
    expect(limited).toBe(true);
    const good = await api(cp.endpoint, 'GET', '/api/v1/admin/irs', adminToken);
    expect(good.status).toBe(429);
    expect(errorCode(good.body)).toBe('RATE_LIMITED');
  });
});

describe('OpenAPI document', () => {
  let server: ControlPlaneServer;
  let dataDir = '';

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openir-openapi-'));
    server = await ControlPlaneServer.start({ dataDir, port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('validates against the OpenAPI 3.1 schema and holds every admin route Fastify serves', async () => {
    const answer = await api(server.endpoint, 'GET', '/api/v1/openapi.json');
    expect(answer.status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(answer.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    const documented = new Set<string>();
    for (const [route, operations] of Object.entries(answer.body.paths as Record<string, object>)) {
      for (const method of Object.keys(operations)) {
        documented.add(`${method.toUpperCase()} ${route.replace(/\{(\w+)\}/g, ':$1')}`);
      }
    }
    expect(server.adminRoutes.length).toBeGreaterThanOrEqual(15);
    for (const route of server.adminRoutes) expect(documented, route).toContain(route);
    expect(documented.size).toBe(server.adminRoutes.length);
  });
});
