import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './tmp';

/**
 * Certificate fixtures made by the real `openssl` CLI at test time, in temp
 * dirs: no private key is ever committed. A throwaway CA (`openssl ca`) signs
 * the leaves, which also gives real past and future validity dates (OpenSSL
 * 3.0 has no -not_before).
 */

export const opensslAvailable = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

export function openssl(args: string[], opts: { cwd?: string; input?: string } = {}): string {
  return execFileSync('openssl', args, {
    cwd: opts.cwd,
    input: opts.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString();
}

export type KeySpec = 'rsa2048' | 'rsa1024' | 'p256' | 'secp256k1';

export interface LeafOptions {
  cn: string;
  /** subjectAltName value, e.g. `DNS:a.example,IP:10.0.0.1`; absent: no SAN extension. */
  san?: string;
  key?: KeySpec;
  /** extendedKeyUsage value; default serverAuth. `null`: no extension. */
  eku?: string | null;
  /** keyUsage value; default digitalSignature,keyEncipherment. `null`: no extension. */
  keyUsage?: string | null;
  /** YYYYMMDDHHMMSSZ */
  startDate?: string;
  endDate?: string;
  /** No extensions at all: an X.509 v1 certificate. */
  v1?: boolean;
}

export interface Fixture {
  cert: string;
  key: string;
  /** Certificate then key, in one PEM file. */
  bundle: string;
}

export class TestCa {
  readonly dir: string;
  readonly cert: string;
  private readonly key: string;
  private count = 0;

  constructor() {
    this.dir = tempDir('openir-ca-');
    fs.mkdirSync(path.join(this.dir, 'newcerts'));
    fs.writeFileSync(path.join(this.dir, 'index.txt'), '');
    fs.writeFileSync(path.join(this.dir, 'serial'), '1000\n');
    fs.writeFileSync(
      path.join(this.dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test_ca',
        '[test_ca]',
        `dir = ${this.dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'serial = $dir/serial',
        'default_md = sha256',
        'default_days = 90',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    this.key = path.join(this.dir, 'ca.key');
    this.cert = path.join(this.dir, 'ca.crt');
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      this.key,
      '-out',
      this.cert,
      '-days',
      '3650',
      '-subj',
      '/CN=OpenIR Test CA',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  /** A leaf signed by this CA; cert, key and a cert+key bundle as PEM files. */
  issue(name: string, opts: LeafOptions): Fixture {
    this.count += 1;
    const base = path.join(this.dir, `${name}-${this.count}`);
    const key = `${base}.key`;
    makeKey(opts.key ?? 'rsa2048', key);
    openssl(['req', '-new', '-key', key, '-out', `${base}.csr`, '-subj', `/CN=${opts.cn}`]);
    const args = [
      'ca',
      '-batch',
      '-config',
      path.join(this.dir, 'ca.cnf'),
      '-cert',
      this.cert,
      '-keyfile',
      this.key,
      '-in',
      `${base}.csr`,
      '-out',
      `${base}.crt`,
      '-notext',
    ];
    if (opts.startDate) args.push('-startdate', opts.startDate);
    if (opts.endDate) args.push('-enddate', opts.endDate);
    if (!opts.v1) {
      const ext = ['[ext]', 'basicConstraints = CA:false'];
      if (opts.san) ext.push(`subjectAltName = ${opts.san}`);
      const eku = opts.eku === undefined ? 'serverAuth' : opts.eku;
      if (eku) ext.push(`extendedKeyUsage = ${eku}`);
      const ku = opts.keyUsage === undefined ? 'critical,digitalSignature,keyEncipherment' : opts.keyUsage;
      if (ku) ext.push(`keyUsage = ${ku}`);
      fs.writeFileSync(`${base}.ext`, `${ext.join('\n')}\n`);
      args.push('-extfile', `${base}.ext`, '-extensions', 'ext');
    }
    openssl(args);
    const bundle = `${base}.bundle.pem`;
    fs.writeFileSync(bundle, fs.readFileSync(`${base}.crt`, 'utf8') + fs.readFileSync(key, 'utf8'));
    return { cert: `${base}.crt`, key, bundle };
  }
}

export function makeKey(spec: KeySpec, file: string): void {
  const args =
    spec === 'rsa2048' || spec === 'rsa1024'
      ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${spec === 'rsa2048' ? 2048 : 1024}`]
      : [
          'genpkey',
          '-algorithm',
          'EC',
          '-pkeyopt',
          `ec_paramgen_curve:${spec === 'p256' ? 'P-256' : 'secp256k1'}`,
        ];
  openssl([...args, '-out', file]);
}

/** A self-signed certificate made by `openssl req -x509`, in nobody's trust store. */
export function selfSignedByOpenssl(dir: string, cn: string, san: string): Fixture {
  const base = path.join(dir, `self-${cn}`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.crt`,
    '-days',
    '90',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    `subjectAltName=${san}`,
    '-addext',
    'extendedKeyUsage=serverAuth',
  ]);
  const bundle = `${base}.bundle.pem`;
  fs.writeFileSync(bundle, fs.readFileSync(`${base}.crt`, 'utf8') + fs.readFileSync(`${base}.key`, 'utf8'));
  return { cert: `${base}.crt`, key: `${base}.key`, bundle };
}

/** PFX/PKCS#12 of a fixture; `legacy` uses RC2/3DES as older tools did. Password via a file, never argv. */
export function toPfx(
  fixture: Fixture,
  password: string,
  opts: { legacy?: boolean; chain?: string } = {},
): string {
  const out = fixture.cert.replace(/\.crt$/, opts.legacy ? '.legacy.pfx' : '.pfx');
  const passFile = `${out}.pass`;
  // openssl cannot read an empty password from a file; an empty one is no secret.
  const passArg = password === '' ? 'pass:' : `file:${passFile}`;
  fs.writeFileSync(passFile, password, { mode: 0o600 });
  openssl([
    'pkcs12',
    '-export',
    ...(opts.legacy ? ['-legacy'] : []),
    '-in',
    fixture.cert,
    '-inkey',
    fixture.key,
    ...(opts.chain ? ['-certfile', opts.chain] : []),
    '-out',
    out,
    '-passout',
    passArg,
  ]);
  fs.rmSync(passFile);
  return out;
}

/** `YYYYMMDDHHMMSSZ` for openssl ca. */
export function opensslDate(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}
