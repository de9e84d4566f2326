import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_NAMES, OPERATIONS, type OperationName } from '../../src/shared/contract';
import { ERROR_CODES } from '../../src/shared/errors';
import { socketCall } from '../helpers/http';
import { makeNode, stopAllNodes, type CliResult } from '../helpers/node';
import { cleanupTempDirs, filesUnder, tempDir } from '../helpers/tmp';

/**
 * The bad-input corpus: every operation of the contract (enumerated from the
 * table, so a new one is covered the day it is added) gets wrong types,
 * oversized strings, unknown fields, path tricks and broken files, over the
 * local API (the contract over HTTP, as the web UI's binding) and through the
 * `openir` CLI. Every answer must be a coded error with a message (never
 * INTERNAL, never a success), the host must still answer afterwards, and not
 * one byte of the data directory's state may change (the log and the run
 * folder are not state and are left out).
 */

/** A plausible input for each operation: the corpus breaks it one field at a time. */
const SAMPLES: Record<OperationName, Record<string, unknown>> = {
  getStatus: {},
  register: { authKey: 'not-a-key', nodeName: 'node-a', replace: false, replaceNode: false },
  startService: {},
  stopService: {},
  restartService: {},
  drain: {},
  getLogs: { limit: 10, minLevel: 'info' },
  setLogLevel: { level: 'debug' },
  getProxy: {},
  setProxy: { mode: 'custom', address: 'proxy.example', port: 3128, user: 'u', password: 'p' },
  testProxy: { proxy: { mode: 'none' }, target: { endpoint: 'https://127.0.0.1:1/', pin: 'sha256/x' } },
  listCertificates: {},
  listSystemCertificates: {},
  inspectCertificate: { content: 'QUJD', password: 'x' },
  importCertificate: { content: 'QUJD', password: 'x', trust: false },
  createSelfSignedCertificate: { dnsNames: ['a.example'], days: 30, key: 'p256' },
  exportCertificate: { thumbprint: 'a'.repeat(40), format: 'pfx', password: 'x' },
  removeCertificate: { thumbprint: 'a'.repeat(40) },
  setCertificateTrust: { thumbprint: 'a'.repeat(40), trusted: true },
  getRemoteAccess: {},
  setRemoteAccess: { mode: 'plain', port: 8060 },
  listCredentials: {},
  setCredential: {
    name: 'db',
    type: 'postgresql',
    host: 'db.example',
    port: 5432,
    database: 'd',
    user: 'u',
    ssl: true,
    password: 'p',
  },
  deleteCredential: { name: 'db' },
  testCredential: { name: 'db' },
  runTroubleshoot: { target: { endpoint: 'https://127.0.0.1:1/', pin: 'sha256/x' } },
  getJobSettings: {},
  allowFolder: { path: '/tmp' },
  disallowFolder: { path: '/tmp' },
  setConcurrentJobsLimit: { limit: 2 },
  getJobs: {},
  createBackup: { password: 'a long enough password' },
  inspectBackup: { content: 'QUJD' },
  restoreBackup: { content: 'QUJD', password: 'x', replace: true },
  unregister: { force: true },
  createDiagnosticsBundle: { send: false },
};

const HUGE = 'a'.repeat(300_000);
const SECRET_FIELDS = new Set(['password', 'bearerToken', 'secret', 'passphrase', 'privateKey']);
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

interface Case {
  what: string;
  op: string;
  body: string | Buffer;
}

/** Wrong types, oversized strings and unknown fields, derived from the sample of every operation. */
function generatedCases(): Case[] {
  const cases: Case[] = [];
  for (const op of OPERATION_NAMES) {
    const sample = SAMPLES[op];
    const json = (value: unknown) => JSON.stringify(value);
    cases.push({ what: 'an array for the input', op, body: json([sample]) });
    cases.push({ what: 'a string for the input', op, body: json('input') });
    cases.push({ what: 'a number for the input', op, body: json(42) });
    cases.push({ what: 'an unknown field', op, body: json({ ...sample, unexpected: true }) });
    cases.push({ what: 'a prototype key', op, body: `{"__proto__":{"polluted":true}}` });
    cases.push({ what: 'broken JSON', op, body: `${json(sample).slice(0, -1)},` });
    cases.push({
      what: 'a body over the size limit',
      op,
      body: json({ ...sample, pad: 'x'.repeat(1_100_000) }),
    });
    for (const [field, value] of Object.entries(sample)) {
      const wrong =
        typeof value === 'string' ? 12345 : typeof value === 'object' ? 'object expected' : `${value}`;
      cases.push({ what: `${field} of the wrong type`, op, body: json({ ...sample, [field]: wrong }) });
      // null is a value some fields take on purpose (clear the proxy password, default jobs limit).
      if (!OPERATIONS[op].input.safeParse({ ...sample, [field]: null }).success) {
        cases.push({ what: `${field} null`, op, body: json({ ...sample, [field]: null }) });
      }
      if (typeof value === 'string') {
        cases.push({ what: `${field} oversized`, op, body: json({ ...sample, [field]: HUGE }) });
        // A secret is opaque: the server it is for judges it. Every other text must not carry a NUL.
        if (!SECRET_FIELDS.has(field)) {
          cases.push({
            what: `${field} with a NUL byte`,
            op,
            body: json({ ...sample, [field]: `${value}\u0000x` }),
          });
        }
      }
      if (typeof value === 'number') {
        for (const n of [-1, 0, 1.5, 1e308]) {
          cases.push({ what: `${field} = ${n}`, op, body: json({ ...sample, [field]: n }) });
        }
      }
    }
  }
  return cases;
}

/** Path tricks and broken files: where the schema alone cannot tell, the host must. */
function handWrittenCases(brokenBackup: string): Case[] {
  const json = (op: string, value: unknown, what: string): Case => ({
    what,
    op,
    body: JSON.stringify(value),
  });
  const cases: Case[] = [];
  for (const p of [
    '../../etc',
    'relative/folder',
    '/tmp/a\u0000b',
    '/no/such/folder/anywhere',
    '/etc/hostname',
    '',
  ]) {
    cases.push(json('allowFolder', { path: p }, `folder ${JSON.stringify(p)}`));
    cases.push(json('disallowFolder', { path: p }, `folder ${JSON.stringify(p)}`));
  }
  // A credential's folder need not exist here (it may on the node that runs the job), but it must be absolute.
  for (const root of ['../../etc', 'relative/folder', '/tmp/a\u0000b', '', 'C:relative']) {
    cases.push(
      json('setCredential', { name: 'files', type: 'localFolder', root }, `root ${JSON.stringify(root)}`),
    );
  }
  for (const root of ['../../etc', 'a/../../b', '/srv/\u0000x']) {
    cases.push(
      json(
        'setCredential',
        {
          name: 'sftp',
          type: 'sftp',
          host: 'sftp.example',
          user: 'u',
          auth: 'password',
          root,
          hostKey: `SHA256:${'A'.repeat(43)}`,
          password: 'p',
        },
        `sftp root ${JSON.stringify(root)}`,
      ),
    );
  }
  for (const name of ['../evil', 'a/b', '/abs', 'x\u0000y', '.', '..', 'a'.repeat(300)]) {
    cases.push(
      json(
        'setCredential',
        { name, type: 'localFolder', root: '/tmp' },
        `credential name ${JSON.stringify(name)}`,
      ),
    );
    cases.push(json('deleteCredential', { name }, `credential name ${JSON.stringify(name)}`));
  }
  for (const thumbprint of ['../../config.json', `${'a'.repeat(39)}/`, 'a'.repeat(40) + '\u0000']) {
    cases.push(json('removeCertificate', { thumbprint }, `thumbprint ${JSON.stringify(thumbprint)}`));
    cases.push(
      json('exportCertificate', { thumbprint, format: 'pem' }, `thumbprint ${JSON.stringify(thumbprint)}`),
    );
  }
  const notACertificate = [
    b64('this is not a PFX'),
    b64(Buffer.from([0x30, 0x82, 0xff, 0xff, 0x02, 0x01, 0x03])), // a DER sequence cut short
    b64('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n'),
    b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
    '====',
  ];
  for (const content of notACertificate) {
    cases.push(json('inspectCertificate', { content, password: 'x' }, 'a certificate file that is not one'));
    cases.push(json('importCertificate', { content, password: 'x' }, 'a certificate file that is not one'));
    cases.push(json('importCertificate', { content }, 'a certificate file that is not one, no password'));
  }
  const notABackup = [b64('garbage, not a backup'), b64(Buffer.alloc(4096, 0)), brokenBackup, '===='];
  for (const content of notABackup) {
    cases.push(json('inspectBackup', { content }, 'a backup file that is garbage'));
    cases.push(
      json(
        'restoreBackup',
        { content, password: 'whatever password', replace: true },
        'a backup file that is garbage',
      ),
    );
  }
  cases.push(
    json('register', { authKey: 'IR@x@y@z' }, 'an auth key that is not one'),
    json('register', { authKey: '' }, 'an empty auth key'),
    json(
      'setRemoteAccess',
      { mode: 'tls', port: 8443, thumbprint: 'b'.repeat(40) },
      'a certificate not in the store',
    ),
    json(
      'setProxy',
      { mode: 'custom', address: 'http://evil/\u0000', port: 3128 },
      'a proxy address with a NUL byte',
    ),
    json(
      'testProxy',
      { target: { endpoint: 'file:///etc/passwd', pin: 'x' } },
      'a control plane URL that is a file',
    ),
    json(
      'runTroubleshoot',
      { target: { endpoint: 'http://127.0.0.1:1/', pin: 'x' } },
      'a control plane URL that is not https',
    ),
  );
  return cases;
}

/** Operations the CLI has no command for, and why: the corpus cannot reach them that way. */
const NO_CLI: Partial<Record<OperationName, string>> = {
  setLogLevel: 'the log level is set from the Configuration Manager only',
  getJobs: 'jobs are shown by `openir status` and the UI; there is no `openir jobs`',
};

/** Files the CLI cases read: broken on purpose. Filled in beforeAll. */
interface BrokenFiles {
  dir: string;
  garbagePfx: string;
  fakePem: string;
  jsonHeaders: string;
  binaryHeaders: string;
  garbageBackup: string;
  truncatedBackup: string;
}

interface CliCase {
  args: string[];
  stdin?: string;
}

/** Bad invocations of the command that binds each operation. */
function cliCases(f: BrokenFiles): Record<Exclude<OperationName, keyof typeof NO_CLI>, CliCase[]> {
  const thumb = 'a'.repeat(40);
  return {
    getStatus: [{ args: ['status', '--bogus'] }, { args: ['status', 'extra'] }],
    register: [
      { args: ['register', '--key-stdin'], stdin: 'not-a-key' },
      { args: ['register', '--key-stdin'], stdin: 'IR@\u0000@x@y' },
      { args: ['register', '--key-file', path.join(f.dir, 'missing')] },
      { args: ['register', '--key-file', f.dir] },
      { args: ['register', '--key-stdin', '--node-name', '../evil'], stdin: 'not-a-key' },
      { args: ['register', 'IR@positional-key'] },
    ],
    startService: [{ args: ['start', '--bogus'] }],
    stopService: [{ args: ['stop', '--bogus'] }],
    restartService: [{ args: ['restart', '--bogus'] }],
    drain: [{ args: ['drain', '--bogus'] }, { args: ['drain', 'extra'] }],
    getLogs: [
      { args: ['logs', '--limit', 'abc'] },
      { args: ['logs', '--limit', '-1'] },
      { args: ['logs', '--limit', '99999999'] },
      { args: ['logs', '--level', 'loud'] },
    ],
    getProxy: [{ args: ['proxy', 'show', '--bogus'] }],
    setProxy: [
      { args: ['proxy', 'set', '--mode', 'bogus'] },
      { args: ['proxy', 'set', '--mode', 'custom', '--address', 'proxy.example', '--port', 'abc'] },
      { args: ['proxy', 'set', '--mode', 'custom', '--address', 'proxy.example', '--port', '70000'] },
      { args: ['proxy', 'set', '--mode', 'custom', '--address', '', '--port', '3128'] },
      { args: ['proxy', 'set', '--mode', 'custom'] },
    ],
    testProxy: [{ args: ['proxy', 'test', '--mode', 'bogus'] }],
    listCertificates: [{ args: ['cert', 'list', '--bogus'] }],
    listSystemCertificates: [{ args: ['cert', 'list', '--system', 'extra'] }],
    inspectCertificate: [
      { args: ['cert', 'inspect', f.garbagePfx, '--password-stdin'], stdin: 'x' },
      { args: ['cert', 'inspect', f.fakePem] },
      { args: ['cert', 'inspect', path.join(f.dir, 'missing.pfx')] },
      { args: ['cert', 'inspect', f.dir] },
    ],
    importCertificate: [
      { args: ['cert', 'import', f.garbagePfx, '--password-stdin'], stdin: 'x' },
      { args: ['cert', 'import', f.garbagePfx] },
      { args: ['cert', 'import', f.fakePem, '--trust'] },
      { args: ['cert', 'import', f.dir] },
    ],
    createSelfSignedCertificate: [
      { args: ['cert', 'create-self-signed', '--days', 'abc'] },
      { args: ['cert', 'create-self-signed', '--days', '0'] },
      { args: ['cert', 'create-self-signed', '--days', '99999'] },
      { args: ['cert', 'create-self-signed', '--key', 'dsa'] },
      { args: ['cert', 'create-self-signed', '--dns', '*.wild,a b'] },
    ],
    exportCertificate: [
      { args: ['cert', 'export', '../../config.json', '--out', path.join(f.dir, 'out.pem'), '--pem'] },
      { args: ['cert', 'export', thumb, '--out', path.join(f.dir, 'no', 'such', 'dir', 'c.pem'), '--pem'] },
      { args: ['cert', 'export', thumb, '--out', path.join(f.dir, 'c.pfx')] },
    ],
    removeCertificate: [{ args: ['cert', 'remove', '../config.json'] }, { args: ['cert', 'remove', thumb] }],
    setCertificateTrust: [{ args: ['cert', 'trust', 'xyz'] }, { args: ['cert', 'untrust', thumb] }],
    getRemoteAccess: [{ args: ['remote-access', 'show', '--bogus'] }],
    setRemoteAccess: [
      { args: ['remote-access', 'enable', '--port', 'abc', '--no-tls'] },
      { args: ['remote-access', 'enable', '--port', '0', '--no-tls'] },
      { args: ['remote-access', 'enable', '--cert', 'zz'] },
      { args: ['remote-access', 'enable', '--cert', 'b'.repeat(40)] },
    ],
    listCredentials: [{ args: ['credential', 'list', '--bogus'] }],
    setCredential: [
      { args: ['credential', 'set', 'x', '--type', 'bogus'] },
      { args: ['credential', 'set', '../x', '--type', 'localFolder', '--root', '/tmp'] },
      { args: ['credential', 'set', 'x', '--type', 'localFolder', '--root', ''] },
      { args: ['credential', 'set', 'x', '--type', 'localFolder'] },
      {
        args: [
          'credential',
          'set',
          'h',
          '--type',
          'http',
          '--base-url',
          'https://a.example/',
          '--headers-file',
          f.jsonHeaders,
        ],
      },
      {
        args: [
          'credential',
          'set',
          'h',
          '--type',
          'http',
          '--base-url',
          'https://a.example/',
          '--headers-file',
          f.binaryHeaders,
        ],
      },
      {
        args: [
          'credential',
          'set',
          'h',
          '--type',
          'http',
          '--base-url',
          'https://a.example/',
          '--headers-file',
          f.dir,
        ],
      },
      {
        args: [
          'credential',
          'set',
          'h',
          '--type',
          'http',
          '--base-url',
          'https://a.example/',
          '--header',
          'A: b',
        ],
      },
      { args: ['credential', 'set', 'h', '--type', 'http', '--base-url', 'file:///etc/passwd'] },
      {
        args: [
          'credential',
          'set',
          'p',
          '--type',
          'postgresql',
          '--host',
          'db',
          '--database',
          'd',
          '--user',
          'u',
          '--port',
          'abc',
        ],
      },
    ],
    deleteCredential: [
      { args: ['credential', 'delete', '../x'] },
      { args: ['credential', 'delete', 'missing'] },
    ],
    testCredential: [
      { args: ['credential', 'test', '../x'] },
      { args: ['credential', 'test', 'missing'] },
      { args: ['credential', 'test'] },
    ],
    runTroubleshoot: [
      { args: ['diagnose', '--bogus'] },
      { args: ['diagnose', 'extra'] },
      { args: ['diagnose', '--html'] },
      { args: ['diagnose', '--html', f.dir] },
      { args: ['diagnose', '--html', path.join(f.dir, 'missing', 'report.html')] },
    ],
    getJobSettings: [{ args: ['config', 'show', '--bogus'] }],
    allowFolder: [
      { args: ['config', 'allow-folder', path.join(f.dir, 'missing')] },
      { args: ['config', 'allow-folder', f.garbagePfx] },
      { args: ['config', 'allow-folder', ''] },
    ],
    disallowFolder: [{ args: ['config', 'disallow-folder', path.join(f.dir, 'missing')] }],
    setConcurrentJobsLimit: [
      { args: ['config', 'set', 'concurrent-jobs', 'abc'] },
      { args: ['config', 'set', 'concurrent-jobs', '0'] },
      { args: ['config', 'set', 'concurrent-jobs', '-3'] },
      { args: ['config', 'set', 'concurrent-jobs', '9999'] },
      { args: ['config', 'set', 'bogus', '3'] },
    ],
    createBackup: [
      { args: ['backup', '--out', path.join(f.dir, 'b1.openir-backup')] },
      { args: ['backup', '--out', path.join(f.dir, 'b2.openir-backup'), '--password-stdin'], stdin: 'short' },
      { args: ['backup', '--password-stdin'], stdin: 'a long enough password' },
    ],
    inspectBackup: [
      { args: ['backup', 'inspect', '--file', f.garbageBackup] },
      { args: ['backup', 'inspect', '--file', f.truncatedBackup] },
      { args: ['backup', 'inspect', '--file', path.join(f.dir, 'missing')] },
      { args: ['backup', 'inspect', '--file', f.dir] },
    ],
    restoreBackup: [
      { args: ['restore', '--file', f.garbageBackup, '--password-stdin'], stdin: 'whatever password' },
      {
        args: ['restore', '--file', f.truncatedBackup, '--password-stdin', '--replace'],
        stdin: 'whatever password',
      },
      { args: ['restore', '--file', f.garbageBackup] },
      { args: ['restore', '--file', f.dir, '--password-stdin'], stdin: 'x' },
    ],
    unregister: [{ args: ['unregister', '--bogus'] }, { args: ['unregister'] }],
    createDiagnosticsBundle: [
      { args: ['diagnostics-bundle'] },
      { args: ['diagnostics-bundle', '--out', f.dir] },
      { args: ['diagnostics-bundle', '--out', f.garbageBackup] },
      { args: ['diagnostics-bundle', '--out', path.join(f.dir, 'missing', 'bundle.zip')] },
      { args: ['diagnostics-bundle', '--out', path.join(f.dir, 'b.zip'), '--bogus'] },
    ],
  };
}

/** A CLI failure as promised: non-zero exit, one coded line on stderr, the error object on stdout with --json. */
function cliProblem(result: CliResult): string | null {
  if (result.code === 0) return 'exited 0';
  const coded = /\[([A-Z_]+)\]\s*$/m.exec(result.stderr);
  if (!coded) return 'no [CODE] on stderr';
  if (!KNOWN_CODES.has(coded[1]!) || coded[1] === 'INTERNAL') return `code ${coded[1]}`;
  const error = (result.json as { error?: { code?: string; message?: string } } | null)?.error;
  if (!error || error.code !== coded[1] || !error.message) return 'no error object on stdout with --json';
  return null;
}

/** What "state" is: every file of the data directory but the log and the run folder (socket, pid). */
function stateHashes(home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of filesUnder(home)) {
    const rel = path.relative(home, file);
    if (rel.startsWith(`logs${path.sep}`) || rel.startsWith(`run${path.sep}`)) continue;
    out[rel] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

const KNOWN_CODES = new Set<string>(ERROR_CODES);

describe('bad-input corpus', () => {
  const node = makeNode({ OPENIR_VAULT: 'file' }, 'badnode');
  const socket = path.join(node.home, 'run', 'host.sock');
  const work = tempDir('openir-bad-input-');
  let brokenBackup = '';
  let before: Record<string, string> = {};

  const ok = async (op: string, input: unknown) => {
    const res = await socketCall(socket, op, JSON.stringify(input));
    expect(res.status, `${op}: ${res.body}`).toBe(200);
    return res.json as Record<string, unknown>;
  };

  beforeAll(async () => {
    await node.startHost();
    // Some state of every kind, so "nothing written" is checked against real files.
    await ok('setCredential', { name: 'files', type: 'localFolder', root: work });
    await ok('setCredential', {
      name: 'api',
      type: 'http',
      baseUrl: 'https://api.example/',
      bearerToken: 'tok-1',
    });
    await ok('createSelfSignedCertificate', { key: 'p256', days: 30 });
    await ok('allowFolder', { path: work });
    await ok('setConcurrentJobsLimit', { limit: 3 });
    const backup = await ok('createBackup', { password: 'corpus backup password' });
    // A real backup cut in half: the header reads, the rest does not.
    const bytes = Buffer.from(String(backup.content), 'base64');
    brokenBackup = bytes.subarray(0, Math.floor(bytes.length / 2)).toString('base64');
    before = stateHashes(node.home);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['config.json', 'credentials.json']));
  });

  afterAll(async () => {
    await stopAllNodes();
    cleanupTempDirs();
  });

  it('every operation has a sample to break (a new operation must be added here)', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...OPERATION_NAMES].sort());
  });

  it('over HTTP: each bad input gets a coded error, the host stays up, nothing is written', async () => {
    const cases = [...generatedCases(), ...handWrittenCases(brokenBackup)];
    const failures: string[] = [];
    for (const c of cases) {
      const res = await socketCall(socket, c.op, c.body);
      const error = (res.json as { error?: { code?: string; message?: string; fix?: string } } | null)?.error;
      const label = `${c.op} with ${c.what}: ${res.status} ${res.body.slice(0, 300)}`;
      if (res.status < 400 || res.status >= 500) failures.push(label);
      else if (!error || !KNOWN_CODES.has(error.code ?? '') || error.code === 'INTERNAL')
        failures.push(label);
      else if (!error.message || error.message.length < 5) failures.push(label);
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(cases.length).toBeGreaterThan(OPERATION_NAMES.length * 7);
    // Still up, and still the same node with the same state.
    const status = await ok('getStatus', {});
    expect(status.status).toBe('NeedRegistration');
    expect(stateHashes(node.home)).toEqual(before);
  }, 300_000);

  it('through the CLI: each bad invocation gets a coded error, the host stays up, nothing is written', async () => {
    const f: BrokenFiles = {
      dir: work,
      garbagePfx: path.join(work, 'garbage.pfx'),
      fakePem: path.join(work, 'fake.pem'),
      jsonHeaders: path.join(work, 'headers.json'),
      binaryHeaders: path.join(work, 'headers.bin'),
      garbageBackup: path.join(work, 'garbage.openir-backup'),
      truncatedBackup: path.join(work, 'truncated.openir-backup'),
    };
    fs.writeFileSync(f.garbagePfx, 'this is not a PFX');
    fs.writeFileSync(f.fakePem, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    fs.writeFileSync(f.jsonHeaders, '{"Authorization": "Bearer x", "X-Key": 1}\n');
    fs.writeFileSync(f.binaryHeaders, Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x3a, 0x0a, 0x00]));
    fs.writeFileSync(f.garbageBackup, 'garbage, not a backup');
    fs.writeFileSync(f.truncatedBackup, Buffer.from(brokenBackup, 'base64'));
    const table = cliCases(f);
    expect(Object.keys(table).sort()).toEqual(OPERATION_NAMES.filter((op) => !(op in NO_CLI)).sort());
    const outside = fs.readdirSync(work).sort();
    const failures: string[] = [];
    let count = 0;
    for (const [op, cases] of Object.entries(table) as [string, CliCase[]][]) {
      for (const c of cases) {
        count += 1;
        const result = await node.cli([...c.args, '--json'], c.stdin);
        const problem = cliProblem(result);
        if (problem) failures.push(`${op}: openir ${c.args.join(' ')} → ${problem}\n${result.stderr.trim()}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(count).toBeGreaterThan(60);
    // No output file was left by a refused export or backup either.
    expect(fs.readdirSync(work).sort()).toEqual(outside);
    const status = await ok('getStatus', {});
    expect(status.status).toBe('NeedRegistration');
    expect(stateHashes(node.home)).toEqual(before);
  }, 600_000);
});
