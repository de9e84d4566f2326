import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeNode, stopAllNodes, type CliResult, type TestNode } from '../helpers/node';
import {
  openssl,
  opensslAvailable,
  selfSignedByOpenssl,
  TestCa,
  toPfx,
  type Fixture,
} from '../helpers/openssl';
import { cleanupTempDirs, filesContaining } from '../helpers/tmp';

/** `openir cert …` as a user runs it: the real CLI, a real host process, fixtures made by openssl. */
const PASSWORD = 'Cli-Pfx-Passw0rd-41d9';

interface Problem {
  code: string;
  message: string;
  fix: string;
}
interface Info {
  thumbprint: string;
  thumbprintSha256: string;
  subject: string;
  san: string[];
  notBefore: string;
  notAfter: string;
  key: { type: string; bits?: number; curve?: string };
  hasPrivateKey: boolean;
  problems: Problem[];
}

const codes = (r: CliResult) => ((r.json as Info).problems ?? []).map((p) => p.code);
const errorCode = (r: CliResult) => (r.json as { error?: { code: string } } | null)?.error?.code;

describe.runIf(opensslAvailable)('openir cert', () => {
  let node: TestNode;
  let fqdn: string;
  let ca: TestCa;
  let good: Fixture;
  let self: Fixture;

  beforeAll(() => {
    node = makeNode({ OPENIR_VAULT: 'file' }, 'certnode');
    fqdn = node.env.OPENIR_FQDN ?? '';
    ca = new TestCa();
    good = ca.issue('good', { cn: fqdn, san: `DNS:${fqdn}` });
    self = selfSignedByOpenssl(ca.dir, fqdn, `DNS:${fqdn}`);
  });

  afterAll(async () => {
    await stopAllNodes();
    cleanupTempDirs();
  });

  it('inspect works without a running host and prints the documented JSON', async () => {
    const r = await node.cli(['cert', 'inspect', self.bundle, '--json']);
    expect(r.code).toBe(0);
    const info = r.json as Info;
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining(['thumbprint', 'subject', 'san', 'notBefore', 'notAfter', 'key', 'problems']),
    );
    expect(info).toMatchObject({ san: [fqdn], key: { type: 'rsa', bits: 2048 }, hasPrivateKey: true });
    expect(info.thumbprint).toMatch(/^[0-9a-f]{40}$/);
    expect(codes(r)).toEqual(['UNTRUSTED']);
    expect(fs.existsSync(path.join(node.home, 'run', 'host.sock'))).toBe(false);

    const human = await node.cli(['cert', 'inspect', good.cert]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('NO_PRIVATE_KEY');
    expect(human.stdout).toContain('UNTRUSTED');
    expect(human.stdout).toContain('Fix:');
  });

  it('inspect of a PFX reads the password from stdin; a wrong password or garbage fails in one line', async () => {
    const pfx = toPfx(good, PASSWORD);
    expect(
      codes(await node.cli(['cert', 'inspect', pfx, '--password-stdin', '--json'], `${PASSWORD}\n`)),
    ).toEqual(['UNTRUSTED']);

    const wrong = await node.cli(['cert', 'inspect', pfx, '--password-stdin', '--json'], 'nope\n');
    expect(wrong.code).toBe(1);
    expect(errorCode(wrong)).toBe('BAD_PASSWORD');
    expect(codes(wrong)).toEqual(['BAD_PASSWORD']);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);

    const garbage = path.join(ca.dir, 'garbage.pfx');
    fs.writeFileSync(garbage, 'definitely not a certificate');
    const bad = await node.cli(['cert', 'inspect', garbage, '--json']);
    expect(bad.code).toBe(1);
    expect(codes(bad)).toEqual(['UNREADABLE']);
    expect(bad.stderr).toMatch(/^openir: .*\[UNREADABLE\]\n$/);

    const missing = await node.cli(['cert', 'inspect', path.join(ca.dir, 'nope.pem')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[NOT_FOUND]');
  });

  it('import a CA with --trust: certificates it issued become trusted', async () => {
    const imported = await node.cli(['cert', 'import', ca.cert, '--trust', '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.json).toMatchObject({ trustAnchor: true, hasPrivateKey: false });
    expect(codes(await node.cli(['cert', 'inspect', good.bundle, '--json']))).toEqual([]);
  });

  it('imports a PFX (password on stdin), keeps its key out of the data dir in plain text', async () => {
    const pfx = toPfx(good, PASSWORD, { legacy: true });
    const r = await node.cli(['cert', 'import', pfx, '--password-stdin', '--json'], `${PASSWORD}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(codes(r)).toEqual([]);
    const keyBody = fs.readFileSync(good.key, 'utf8').split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(40);
    expect(filesContaining(node.home, keyBody)).toEqual([]);
    expect(filesContaining(node.home, PASSWORD)).toEqual([]);

    const wrong = await node.cli(['cert', 'import', pfx, '--password-stdin', '--json'], 'wrong\n');
    expect(wrong.code).toBe(1);
    expect(errorCode(wrong)).toBe('BAD_PASSWORD');
  });

  it('create-self-signed (default FQDN, RSA; or p256 for several names), list, export, remove', async () => {
    const rsa = await node.cli(['cert', 'create-self-signed', '--json']);
    expect(rsa.code, rsa.stderr).toBe(0);
    const created = rsa.json as Info;
    expect(created).toMatchObject({ san: [fqdn], key: { type: 'rsa', bits: 2048 } });
    expect(codes(rsa)).toEqual(['UNTRUSTED']);

    const ec = await node.cli([
      'cert',
      'create-self-signed',
      '--dns',
      `${fqdn},peer.openir.test`,
      '--days',
      '30',
      '--key',
      'p256',
      '--json',
    ]);
    expect(ec.code, ec.stderr).toBe(0);
    expect(ec.json).toMatchObject({ san: [fqdn, 'peer.openir.test'], key: { type: 'ec', curve: 'P-256' } });

    const badKey = await node.cli(['cert', 'create-self-signed', '--key', 'dsa']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('[INVALID_INPUT]');

    const list = await node.cli(['cert', 'list', '--json']);
    const thumbprints = (list.json as { certificates: Info[] }).certificates.map((c) => c.thumbprint);
    expect(thumbprints).toContain(created.thumbprint);
    expect(thumbprints).toContain((ec.json as Info).thumbprint);

    const pemOut = path.join(ca.dir, 'node.pem');
    const pem = await node.cli(['cert', 'export', created.thumbprint, '--pem', '--out', pemOut]);
    expect(pem.code, pem.stderr).toBe(0);
    expect(pem.stdout).toContain('update-ca-certificates');
    expect(fs.readFileSync(pemOut, 'utf8')).not.toContain('PRIVATE KEY');

    const noPw = await node.cli(['cert', 'export', created.thumbprint, '--out', path.join(ca.dir, 'x.pfx')]);
    expect(noPw.code).toBe(1);
    expect(noPw.stderr).toContain('[INVALID_INPUT]');

    const pfxOut = path.join(ca.dir, 'node.pfx');
    const pfx = await node.cli(
      ['cert', 'export', created.thumbprintSha256, '--out', pfxOut, '--password-stdin', '--json'],
      `${PASSWORD}\n`,
    );
    expect(pfx.code, pfx.stderr).toBe(0);
    expect(fs.statSync(pfxOut).mode & 0o777).toBe(0o600);
    const passFile = path.join(ca.dir, 'pass.txt');
    fs.writeFileSync(passFile, PASSWORD, { mode: 0o600 });
    const info = openssl(['pkcs12', '-in', pfxOut, '-info', '-nokeys', '-passin', `file:${passFile}`]);
    expect(info).toContain(`subject=CN = ${fqdn}`);

    // Another node trusts it from the exported public PEM.
    const peer = makeNode({ OPENIR_VAULT: 'file' }, 'peer');
    const before = await peer.cli(['cert', 'inspect', pemOut, '--json']);
    expect(codes(before)).toEqual(['NO_PRIVATE_KEY', 'FQDN_NOT_IN_SAN', 'UNTRUSTED']);
    expect((await peer.cli(['cert', 'import', pemOut, '--trust'])).code).toBe(0);
    expect(codes(await peer.cli(['cert', 'inspect', pemOut, '--json']))).toEqual([
      'NO_PRIVATE_KEY',
      'FQDN_NOT_IN_SAN',
    ]);

    const removed = await node.cli(['cert', 'remove', created.thumbprint, '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    const again = await node.cli(['cert', 'remove', created.thumbprint]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[NOT_FOUND]');
    const after = await node.cli(['cert', 'list', '--json']);
    expect((after.json as { certificates: Info[] }).certificates.map((c) => c.thumbprint)).not.toContain(
      created.thumbprint,
    );
  });

  it('lists the system trust stores and says which were read', async () => {
    const r = await node.cli(['cert', 'list', '--system', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const system = r.json as { stores: { id: string; read: boolean }[]; certificates: unknown[] };
    expect(system.stores.find((s) => s.id === 'node-bundled')?.read).toBe(true);
    expect(system.certificates.length).toBeGreaterThan(50);
  });
});
