import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PFX_MAX_IMPORT_ITERATIONS, parseCertificateFile } from '../../src/core/certificates/parse';
import { buildPfx, PFX_EXPORT_ITERATIONS } from '../../src/core/certificates/pfx';
import { pkcs12Sha256Key } from '../../src/core/certificates/pkcs12Kdf';
import { opensslAvailable, selfSignedByOpenssl, toPfx, type Fixture } from '../helpers/openssl';
import { cleanupTempDirs, tempDir } from '../helpers/tmp';

const PASSWORD = 'Export-Pw-1 ✓';

/**
 * PFX passwords and keys (security review): exports use PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC at 600,000 iterations, and a SHA-256 MAC
 * at the same count, all derived with Node's crypto; imports refuse absurd
 * iteration counts before deriving anything.
 */
describe.skipIf(!opensslAvailable)('PFX export and import', () => {
  let dir: string;
  let fixture: Fixture;
  let pfxFile: string;

  beforeAll(async () => {
    dir = tempDir('openir-pfx-');
    fixture = selfSignedByOpenssl(dir, 'pfx.openir.test', 'DNS:pfx.openir.test');
    const key = createPrivateKey(fs.readFileSync(fixture.key));
    const cert = new X509Certificate(fs.readFileSync(fixture.cert));
    pfxFile = path.join(dir, 'export.pfx');
    fs.writeFileSync(pfxFile, await buildPfx(key, [cert], PASSWORD, 'pfx.openir.test'));
  });
  afterAll(() => cleanupTempDirs());

  /** `openssl pkcs12` with the password from a file (never argv); stdout and stderr together. */
  const opensslPkcs12 = (file: string, password: string, ...args: string[]) => {
    const passFile = path.join(dir, 'pass.txt');
    fs.writeFileSync(passFile, password, { mode: 0o600 });
    const run = spawnSync('openssl', ['pkcs12', '-in', file, '-passin', `file:${passFile}`, ...args], {
      encoding: 'utf8',
    });
    return { status: run.status, text: `${run.stdout}${run.stderr}` };
  };

  it('exports PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC at 600,000 iterations, with the MAC at 600,000 too', () => {
    expect(PFX_EXPORT_ITERATIONS).toBe(600_000);
    const info = opensslPkcs12(pfxFile, PASSWORD, '-info', '-noout');
    expect(info.status, info.text).toBe(0);
    expect(info.text).toContain('MAC: sha256, Iteration 600000');
    expect(info.text).toMatch(
      /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256/,
    );
    const key = opensslPkcs12(pfxFile, PASSWORD, '-nocerts', '-nodes');
    expect(key.text).toContain('PRIVATE KEY');
    expect(opensslPkcs12(pfxFile, 'wrong password', '-info', '-noout').status).not.toBe(0);
  });

  it('reads its own export back, and refuses the wrong password', () => {
    const parsed = parseCertificateFile(fs.readFileSync(pfxFile), PASSWORD);
    expect(parsed.key).not.toBeNull();
    expect(parsed.keyMismatch).toBe(false);
    expect(() => parseCertificateFile(fs.readFileSync(pfxFile), 'wrong')).toThrow(
      expect.objectContaining({ code: 'BAD_PASSWORD' }),
    );
  });

  it('derives the MAC key as forge (RFC 7292 B.2) does', async () => {
    const salt = Buffer.from('0123456789abcdef');
    for (const [password, iterations] of [
      ['p', 1],
      [PASSWORD, 2],
      ['longer password with ünïcode', 1500],
    ] as const) {
      const expected = forge.pkcs12.generateKey(
        password,
        forge.util.createBuffer(salt.toString('binary')),
        3,
        iterations,
        32,
        forge.md.sha256.create(),
      );
      expect((await pkcs12Sha256Key(password, salt, iterations)).toString('binary')).toBe(
        expected.getBytes(),
      );
    }
  });

  /** Re-encodes a PFX with one INTEGER changed, as an attacker would craft it (MAC and bags otherwise intact). */
  const withCount = (der: Buffer, where: 'mac' | 'key-pbkdf2', count: number): Buffer => {
    const a = forge.asn1;
    const top = a.fromDer(der.toString('binary'), false);
    const kids = (n: forge.asn1.Asn1) => n.value as forge.asn1.Asn1[];
    const integer = a.integerToDer(count).getBytes();
    if (where === 'mac') {
      kids(kids(top)[2]!)[2]!.value = integer;
    } else {
      // authSafe → ContentInfo (data) → [0] → OCTET STRING → AuthenticatedSafe
      const authOctets = kids(kids(kids(top)[1]!)[1]!)[0]!;
      const authSafe = a.fromDer(authOctets.value as string, false);
      // The key's ContentInfo (the second one, data) → [0] → OCTET STRING → SafeContents
      const keyOctets = kids(kids(kids(authSafe)[1]!)[1]!)[0]!;
      const safeContents = a.fromDer(keyOctets.value as string, false);
      // SafeBag → [0] → EncryptedPrivateKeyInfo → AlgorithmIdentifier (PBES2) → params → PBKDF2 → params
      const epki = kids(kids(kids(safeContents)[0]!)[1]!)[0]!;
      const pbkdf2Params = kids(kids(kids(kids(epki)[0]!)[1]!)[0]!)[1]!;
      kids(pbkdf2Params)[1]!.value = integer;
      keyOctets.value = a.toDer(safeContents).getBytes();
      authOctets.value = a.toDer(authSafe).getBytes();
    }
    return Buffer.from(a.toDer(top).getBytes(), 'binary');
  };

  it.each(['mac', 'key-pbkdf2'] as const)(
    'refuses a PFX whose %s iteration count is over 10,000,000, before deriving anything',
    (where) => {
      const crafted = withCount(fs.readFileSync(pfxFile), where, 2_000_000_000);
      let error: unknown = null;
      try {
        parseCertificateFile(crafted, PASSWORD);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'PFX_ITERATIONS_TOO_HIGH' });
      expect((error as Error).message).toContain('2,000,000,000');
      expect((error as { fix?: string }).fix).toContain('-iter');
      // One over the cap is refused as well.
      const atCap = withCount(fs.readFileSync(pfxFile), where, PFX_MAX_IMPORT_ITERATIONS + 1);
      expect(() => parseCertificateFile(atCap, PASSWORD)).toThrow(
        expect.objectContaining({ code: 'PFX_ITERATIONS_TOO_HIGH' }),
      );
    },
  );

  it('still imports PFX files made by openssl, modern and legacy', () => {
    for (const legacy of [false, true]) {
      const file = toPfx(fixture, 'Pfx-Pw-9', { legacy });
      const parsed = parseCertificateFile(fs.readFileSync(file), 'Pfx-Pw-9');
      expect(parsed.key, `legacy=${legacy}`).not.toBeNull();
    }
  });
});
