import { copyFileSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, opensslAvailable } from '../helpers/openssl';
import {
  runControlPlaneCli,
  startControlPlane,
  stopAll,
  type RunningControlPlane,
} from '../helpers/controlPlane';

/**
 * The admin CLI is a client of the admin REST API (issue 17): the real
 * control plane process, and the real CLI process run the way an operator on
 * another machine runs it (--url, --pin, a token on stdin or in the
 * environment) or on the control plane's machine (nothing to set up).
 */
describe('openir-control-plane as an API client', () => {
  let cp: RunningControlPlane;
  /** A data directory the remote runs point at: it must stay empty, so no command opened a database. */
  let elsewhere: string;
  let remoteEnv: NodeJS.ProcessEnv;
  let factoryToken: string;

  const adminRequests = () =>
    cp
      .stderr()
      .split('\n')
      .filter((line) => / \/api\/v1\/admin\//.test(line)).length;

  beforeAll(async () => {
    cp = await startControlPlane();
    elsewhere = mkdtempSync(path.join(tmpdir(), 'openir-cli-elsewhere-'));
    remoteEnv = { ...process.env, OPENIR_CONTROL_PLANE_HOME: elsewhere };
    factoryToken = (await cp.adminOk<{ token: string }>(['factory', 'create', 'analytics'])).token;
  }, 60_000);

  afterAll(async () => {
    await stopAll();
  });

  it('on the control plane machine: finds the running server and the instance-admin token (owner-only files)', async () => {
    const record = path.join(cp.dataDir, 'admin-api.json');
    expect(statSync(record).mode & 0o777).toBe(0o600);
    const created = await cp.adminOk<{ name: string; key1: string }>(['ir', 'create', 'local-ir']);
    expect(created.name).toBe('local-ir');
    const listed = await cp.adminOk<{ irs: { name: string; factory: string }[] }>(['ir', 'list']);
    expect(listed.irs).toContainEqual(expect.objectContaining({ name: 'local-ir', factory: 'default' }));
    // It went through the API: the server logged the request.
    expect(cp.stderr()).toMatch(/POST \/api\/v1\/admin\/irs 201/);
  });

  it('from elsewhere: --url, --pin and --token-stdin, scoped to the token’s factory; no database opened', async () => {
    const flags = ['--url', cp.endpoint, '--pin', cp.pin, '--token-stdin', '--json'];
    const created = await runControlPlaneCli<{ name: string }>(
      ['ir', 'create', 'remote-ir', ...flags],
      remoteEnv,
      `${factoryToken}\n`,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const listed = await runControlPlaneCli<{ irs: { name: string; factory: string }[] }>(
      ['ir', 'list', ...flags],
      remoteEnv,
      factoryToken,
    );
    // The factory sees its own IR only, not the default factory's.
    expect(listed.json.irs.map((ir) => ir.name)).toEqual(['remote-ir']);
    expect(listed.json.irs[0]?.factory).toBe('analytics');
    const other = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'nodes', 'local-ir', ...flags],
      remoteEnv,
      factoryToken,
    );
    expect(other.code).toBe(1);
    expect(other.json.error.code).toBe('IR_NOT_FOUND');
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('the token and URL from the environment; text output as on the server', async () => {
    const result = await runControlPlaneCli(['ir', 'list'], {
      ...remoteEnv,
      OPENIR_CONTROL_PLANE_URL: cp.endpoint,
      OPENIR_CONTROL_PLANE_PIN: cp.pin,
      OPENIR_CONTROL_PLANE_TOKEN: factoryToken,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^NAME\s+STATUS\s+NODES\s+FACTORY/);
    expect(result.stdout).toContain('remote-ir');
    expect(result.stdout).not.toContain('local-ir');
  });

  it('a wrong pin is refused before anything is sent: no request reaches the API', async () => {
    const before = adminRequests();
    const wrongPin = `${cp.pin.slice(0, -4)}AAA=`;
    const result = await runControlPlaneCli<{ error: { code: string; message: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--pin', wrongPin, '--token-stdin', '--json'],
      remoteEnv,
      factoryToken,
    );
    expect(result.code).toBe(1);
    expect(result.json.error.code).toBe('CONTROL_PLANE_TLS_PIN_MISMATCH');
    expect(result.stderr).toContain('no token was sent');
    // Not even with certificate checks turned off in the environment, as people do for self-signed servers.
    const unchecked = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--pin', wrongPin, '--token-stdin', '--json'],
      { ...remoteEnv, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
      factoryToken,
    );
    expect(unchecked.json.error.code).toBe('CONTROL_PLANE_TLS_PIN_MISMATCH');
    expect(adminRequests()).toBe(before);
  });

  it('without a pin, a self-signed control plane is not trusted, and the error says how to fix it', async () => {
    const result = await runControlPlaneCli<{ error: { code: string; fix: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--token-stdin', '--json'],
      remoteEnv,
      factoryToken,
    );
    expect(result.code).toBe(1);
    expect(result.json.error.code).toBe('CONTROL_PLANE_TLS_FAILED');
    expect(result.json.error.fix).toContain('--pin');
  });

  it('bad input: no token for --url, an empty --token-stdin, a URL that is not https', async () => {
    const noToken = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--json'],
      remoteEnv,
    );
    expect(noToken.json.error.code).toBe('UNAUTHORIZED');
    expect(noToken.stderr).toContain('--token-stdin');
    const empty = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--token-stdin', '--json'],
      remoteEnv,
      '\n',
    );
    expect(empty.json.error.code).toBe('INVALID_INPUT');
    const http = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', 'http://127.0.0.1:1', '--json'],
      remoteEnv,
    );
    expect(http.code).toBe(1);
    expect(http.json.error.code).toBe('INVALID_INPUT');
    expect(http.stderr).toContain('https://host[:port]');
    const withPassword = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', 'https://admin:hunter2secret@127.0.0.1:1', '--json'],
      remoteEnv,
    );
    expect(withPassword.json.error.code).toBe('INVALID_INPUT');
    expect(withPassword.stdout + withPassword.stderr).not.toContain('hunter2secret');
    const dots = await cp.admin<{ error: { code: string } }>(['ir', 'nodes', '..']);
    expect(dots.json.error.code).toBe('INVALID_INPUT');
  });

  it('a wrong token is refused with UNAUTHORIZED; a factory token cannot do instance-admin work', async () => {
    const wrong = await runControlPlaneCli<{ error: { code: string } }>(
      ['ir', 'list', '--url', cp.endpoint, '--pin', cp.pin, '--token-stdin', '--json'],
      remoteEnv,
      'oirt_000000000000.not-a-token',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.json.error.code).toBe('UNAUTHORIZED');
    const forbidden = await runControlPlaneCli<{ error: { code: string } }>(
      ['factory', 'create', 'sneaky', '--url', cp.endpoint, '--pin', cp.pin, '--token-stdin', '--json'],
      remoteEnv,
      factoryToken,
    );
    expect(forbidden.json.error.code).toBe('FORBIDDEN');
  });

  it('flags are checked before anything is sent, with the flag named', async () => {
    const before = adminRequests();
    const result = await cp.admin<{ error: { code: string; message: string } }>([
      'ir',
      'create',
      'x',
      '--max-nodes',
      'many',
    ]);
    expect(result.code).toBe(1);
    expect(result.json.error.message).toContain('--max-nodes');
    expect(adminRequests()).toBe(before);
  });

  it('job list pages with --limit and --cursor', async () => {
    await cp.adminOk(['ir', 'create', 'paged', '--join-approval', 'auto']);
    for (let i = 0; i < 3; i += 1) {
      await cp.adminOk([
        'job',
        'submit',
        '--ir',
        'paged',
        '--source',
        `files:a${i}.csv`,
        '--sink',
        'staging',
      ]);
    }
    type Page = { jobs: { id: string }[]; next: string | null };
    const page = ['job', 'list', '--ir', 'paged', '--limit', '2'];
    const first = await cp.adminOk<Page>(page);
    expect(first.jobs).toHaveLength(2);
    expect(first.next).not.toBeNull();
    const second = await cp.adminOk<Page>([...page, '--cursor', first.next ?? '']);
    expect(second.jobs).toHaveLength(1);
    expect(second.next).toBeNull();
    expect(new Set([...first.jobs, ...second.jobs].map((j) => j.id)).size).toBe(3);
    const text = await runControlPlaneCli([...page, '--data', cp.dataDir]);
    expect(text.stdout).toContain(`--cursor ${first.next}`);
  });

  it('a server that is starting (its lock taken, no API record yet) is waited for; a dead lock is not', async () => {
    // The lock held by a live process (this test's) stands for a server still starting; the record
    // then appears (copied from the running server, with its token), as `serve` writes it once listening.
    const starting = mkdtempSync(path.join(tmpdir(), 'openir-cli-starting-'));
    writeFileSync(path.join(starting, 'serve.lock'), String(process.pid));
    const t0 = Date.now();
    const waiting = runControlPlaneCli<{ irs: unknown[] }>(['ir', 'list', '--data', starting, '--json']);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    copyFileSync(path.join(cp.dataDir, 'admin-token'), path.join(starting, 'admin-token'));
    copyFileSync(path.join(cp.dataDir, 'admin-api.json'), path.join(starting, 'admin-api.json'));
    const listed = await waiting;
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(Array.isArray(listed.json.irs)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
    // A lock left by a dead process: no wait, the one-line error at once.
    const stale = mkdtempSync(path.join(tmpdir(), 'openir-cli-stale-'));
    writeFileSync(path.join(stale, 'serve.lock'), '999999');
    const t1 = Date.now();
    const refused = await runControlPlaneCli<{ error: { code: string } }>([
      'ir',
      'list',
      '--data',
      stale,
      '--json',
    ]);
    expect(refused.json.error.code).toBe('CONTROL_PLANE_UNREACHABLE');
    expect(Date.now() - t1).toBeLessThan(10_000);
  });

  it('once the server stops: a clear error that says how to start it, and the API record is gone', async () => {
    expect(await cp.stop()).toBe(0);
    expect(() => statSync(path.join(cp.dataDir, 'admin-api.json'))).toThrow();
    const result = await cp.admin<{ error: { code: string; fix: string } }>(['ir', 'list']);
    expect(result.code).toBe(1);
    expect(result.json.error.code).toBe('CONTROL_PLANE_UNREACHABLE');
    expect(result.json.error.fix).toContain('serve');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

/** A control plane served with a CA-issued certificate (made by openssl): trusted by its CA, or by its pin. */
describe.skipIf(!opensslAvailable)(
  'openir-control-plane as an API client of a CA-certified control plane',
  () => {
    let cp: RunningControlPlane;
    let ca: TestCa;

    beforeAll(async () => {
      ca = new TestCa();
      const leaf = ca.issue('cp', { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' });
      cp = await startControlPlane({ extraArgs: ['--cert', leaf.cert, '--key', leaf.key] });
    }, 60_000);

    afterAll(async () => {
      await stopAll();
    });

    it('locally: the recorded certificate and pin are enough (the CA is not in the system store)', async () => {
      const listed = await cp.adminOk<{ irs: unknown[] }>(['ir', 'list']);
      expect(listed.irs).toEqual([]);
    });

    it('remotely without --pin: trusted through NODE_EXTRA_CA_CERTS, refused without it', async () => {
      const token = readFileSync(path.join(cp.dataDir, 'admin-token'), 'utf8').trim();
      const env = {
        ...process.env,
        OPENIR_CONTROL_PLANE_URL: cp.endpoint,
        OPENIR_CONTROL_PLANE_TOKEN: token,
      };
      const untrusted = await runControlPlaneCli<{ error: { code: string } }>(['ir', 'list', '--json'], env);
      expect(untrusted.json.error.code).toBe('CONTROL_PLANE_TLS_FAILED');
      const trusted = await runControlPlaneCli<{ irs: unknown[] }>(['ir', 'list', '--json'], {
        ...env,
        NODE_EXTRA_CA_CERTS: ca.cert,
      });
      expect(trusted.stderr).toBe('');
      expect(trusted.json.irs).toEqual([]);
    });
  },
);
