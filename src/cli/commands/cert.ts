import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { CertificateInfo, CertificateProblem, StoredCertificate } from '../../shared/certificates';
import { OpenIrError, toErrorBody } from '../../shared/errors';
import { writeFileAtomic } from '../../core/atomicFile';
import { inspectCertificateOffline } from '../../core/certificates';
import { printResult, type CommandContext } from '../context';

/** A certificate file on disk is at most this big; PFX files are a few KiB. */
const MAX_FILE_BYTES = 512 * 1024;

/** `openir cert …`: the certificate store of this node. */
export function addCertCommands(program: Command, ctx: CommandContext): void {
  const { run, readSecret, ensureHost, fail, fqdn } = ctx;
  const cert = program.command('cert').description('TLS certificates for remote access from intranet');

  cert
    .command('list')
    .description("list this node's certificate store, each checked against the TLS requirements")
    .option('--system', 'list the system trust stores (read-only) instead')
    .action(
      run(async (o, opts: { system?: boolean }) => {
        const client = await ensureHost();
        if (opts.system) {
          const system = await client.call('listSystemCertificates', {});
          printResult(o, system, () =>
            [
              ...system.stores.map(
                (s) =>
                  `${s.label}: ${s.read ? `${s.count} certificates` : `not read (${s.reason ?? 'unavailable'})`}`,
              ),
              '',
              ...system.certificates.map((c) => `${c.thumbprint}  ${c.subject}  [${c.store}]`),
            ].join('\n'),
          );
          return;
        }
        const list = await client.call('listCertificates', {});
        printResult(o, list, () =>
          list.certificates.length === 0
            ? 'The certificate store is empty. Import one with `openir cert import <file>` or create one with `openir cert create-self-signed`.'
            : list.certificates.map((c) => formatStored(c)).join('\n\n'),
        );
      }),
    );

  cert
    .command('inspect')
    .description('read a certificate file and check it against the TLS requirements (no host needed)')
    .argument('<file>', 'PFX/PKCS#12 (.pfx, .p12) or PEM (.pem, .crt, .cer)')
    .option('--password-stdin', 'read the file password from standard input')
    .action(
      run(async (o, file: string, opts: { passwordStdin?: boolean }) => {
        const content = readCertificateFile(file);
        const password = opts.passwordStdin ? await readSecret() : undefined;
        // Parsed here, in the CLI process: works without a running host, and the file never travels.
        let info: CertificateInfo;
        try {
          info = inspectCertificateOffline(content, password, { dataDir: ctx.paths.home, fqdn });
        } catch (error) {
          if (
            !(error instanceof OpenIrError) ||
            (error.code !== 'BAD_PASSWORD' && error.code !== 'UNREADABLE')
          )
            throw error;
          // Unreadable is a problem code too, so scripts reading `problems` see it the same way.
          const body = toErrorBody(error);
          const problem: CertificateProblem = {
            code: error.code,
            message: body.message,
            fix: body.fix ?? '',
          };
          if (o.json) o.out(JSON.stringify({ error: body, problems: [problem] }, null, 2));
          o.err(`openir: ${body.message}${body.fix ? ` ${body.fix}` : ''} [${body.code}]`);
          fail();
          return;
        }
        printResult(o, info, () => formatInfo(info, fqdn));
      }),
    );

  cert
    .command('import')
    .description('import a certificate into the store (its private key goes to the secret store)')
    .argument('<file>', 'PFX/PKCS#12 (.pfx, .p12) or PEM (.pem, .crt, .cer)')
    .option('--password-stdin', 'read the file password from standard input')
    .option('--trust', "also trust it on this node (a peer's self-signed certificate)")
    .action(
      run(async (o, file: string, opts: { passwordStdin?: boolean; trust?: boolean }) => {
        const content = readCertificateFile(file);
        const password = opts.passwordStdin ? await readSecret() : undefined;
        const client = await ensureHost();
        const stored = await client.call('importCertificate', {
          content: content.toString('base64'),
          ...(password !== undefined ? { password } : {}),
          ...(opts.trust ? { trust: true } : {}),
        });
        printResult(o, stored, () => `Imported.\n${formatStored(stored)}`);
      }),
    );

  cert
    .command('create-self-signed')
    .description("generate a self-signed server certificate (default: this node's FQDN)")
    .option('--dns <names>', 'comma-separated DNS names (and IP addresses) for the certificate')
    .option('--days <n>', 'validity in days', '365')
    .option('--key <type>', 'rsa2048 or p256', 'rsa2048')
    .action(
      run(async (o, opts: { dns?: string; days: string; key: string }) => {
        const days = Number(opts.days);
        if (!Number.isInteger(days) || days < 1 || days > 3650) {
          throw new OpenIrError(
            'INVALID_INPUT',
            `--days must be a whole number from 1 to 3650, not "${opts.days}".`,
          );
        }
        if (opts.key !== 'rsa2048' && opts.key !== 'p256') {
          throw new OpenIrError('INVALID_INPUT', `--key must be rsa2048 or p256, not "${opts.key}".`);
        }
        const dnsNames = opts.dns
          ?.split(',')
          .map((n) => n.trim())
          .filter(Boolean);
        const client = await ensureHost();
        const stored = await client.call('createSelfSignedCertificate', {
          ...(dnsNames && dnsNames.length > 0 ? { dnsNames } : {}),
          days,
          key: opts.key,
        });
        printResult(o, stored, () => `Created.\n${formatStored(stored)}`);
      }),
    );

  cert
    .command('export')
    .description('export a stored certificate: PFX with its key (password from stdin), or public PEM')
    .argument('<thumbprint>', 'SHA-1 or SHA-256 thumbprint')
    .requiredOption('--out <file>', 'file to write')
    .option('--pem', "public certificate only, PEM (for other nodes' trust stores)")
    .option('--password-stdin', 'read the PFX password from standard input (required without --pem)')
    .action(
      run(async (o, thumbprint: string, opts: { out: string; pem?: boolean; passwordStdin?: boolean }) => {
        if (!opts.pem && !opts.passwordStdin) {
          throw new OpenIrError(
            'INVALID_INPUT',
            'A PFX export needs a password to protect the private key.',
            {
              fix: 'Add --password-stdin and give the password on standard input, or use --pem for the public certificate.',
            },
          );
        }
        const password = opts.pem ? undefined : await readSecret();
        const client = await ensureHost();
        const exported = await client.call('exportCertificate', {
          thumbprint,
          format: opts.pem ? 'pem' : 'pfx',
          ...(password !== undefined ? { password } : {}),
        });
        const out = path.resolve(opts.out);
        const bytes = exported.format === 'pem' ? exported.data : Buffer.from(exported.data, 'base64');
        // A PFX holds the key (encrypted): owner-only, like every other secret-bearing file we write.
        await writeFileAtomic(out, bytes, exported.format === 'pem' ? 0o644 : 0o600);
        printResult(o, { format: exported.format, thumbprint: exported.thumbprint, file: out }, () =>
          exported.format === 'pem'
            ? `Wrote the public certificate to ${out}.\n${trustSteps(out)}`
            : `Wrote the certificate and its key (PFX, password-protected) to ${out}.`,
        );
      }),
    );

  cert
    .command('remove')
    .description('remove a certificate from the store (and its key from the secret store)')
    .argument('<thumbprint>', 'SHA-1 or SHA-256 thumbprint')
    .action(
      run(async (o, thumbprint: string) => {
        const client = await ensureHost();
        const removed = await client.call('removeCertificate', { thumbprint });
        printResult(o, removed, () => `Removed ${removed.thumbprint} (${removed.subject}).`);
      }),
    );

  for (const [name, trusted] of [
    ['trust', true],
    ['untrust', false],
  ] as const) {
    cert
      .command(name)
      .description(
        trusted ? 'trust a stored certificate on this node' : "take a certificate off this node's trust list",
      )
      .argument('<thumbprint>', 'SHA-1 or SHA-256 thumbprint')
      .action(
        run(async (o, thumbprint: string) => {
          const client = await ensureHost();
          const stored = await client.call('setCertificateTrust', { thumbprint, trusted });
          printResult(o, stored, () => formatStored(stored));
        }),
      );
  }
}

function readCertificateFile(file: string): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new OpenIrError('NOT_FOUND', `There is no file ${file}.`, { fix: 'Check the path.' });
  }
  if (!stat.isFile() || stat.size > MAX_FILE_BYTES) {
    throw new OpenIrError(
      'UNREADABLE',
      `${file} is not a certificate file (${stat.isFile() ? 'too big' : 'not a file'}).`,
      {
        fix: 'Choose a PFX/PKCS#12 (.pfx, .p12) or PEM (.pem, .crt, .cer) certificate file.',
      },
    );
  }
  return fs.readFileSync(file);
}

function formatInfo(info: CertificateInfo, fqdn: string): string {
  const key =
    info.key.type === 'rsa'
      ? `RSA ${info.key.bits ?? '?'} bits`
      : info.key.type === 'ec'
        ? `EC ${info.key.curve ?? '?'}`
        : (info.key.algorithm ?? 'other');
  const rows: [string, string][] = [
    ['Thumbprint', info.thumbprint],
    ['SHA-256', info.thumbprintSha256],
    ['Subject', info.subject],
    ['Issuer', `${info.issuer}${info.selfSigned ? ' (self-signed)' : ''}`],
    ['SANs', info.san.join(', ') || '(none)'],
    ['Valid', `${info.notBefore} to ${info.notAfter}`],
    ['Key', `${key}${info.hasPrivateKey ? ', private key present' : ', no private key'}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  if (info.problems.length === 0) lines.push('', `Meets every TLS requirement for ${fqdn}.`);
  else {
    lines.push('', `Problems for ${fqdn}:`);
    for (const p of info.problems) lines.push(`  ${p.code}: ${p.message}`, `    Fix: ${p.fix}`);
  }
  for (const w of info.warnings) lines.push(`  Warning ${w.code}: ${w.message}`);
  return lines.join('\n');
}

function formatStored(c: StoredCertificate): string {
  const status = c.problems.length === 0 ? 'ok' : c.problems.map((p) => p.code).join(', ');
  return [
    `${c.thumbprint}  ${c.subject}`,
    `  SANs: ${c.san.join(', ') || '(none)'}; until ${c.notAfter}; ${c.key.type.toUpperCase()}${c.key.bits ? ` ${c.key.bits}` : ''}${c.hasPrivateKey ? ' with key' : ', no key'}${c.trustAnchor ? '; trusted here' : ''}`,
    `  Requirements: ${status}`,
  ].join('\n');
}

function trustSteps(file: string): string {
  return [
    'To trust it on another machine:',
    `  OpenIR node:  openir cert import ${file} --trust`,
    `  Debian/Ubuntu: sudo cp ${file} /usr/local/share/ca-certificates/openir-node.crt && sudo update-ca-certificates`,
    `  RHEL/Fedora:  sudo cp ${file} /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust`,
    `  macOS:        sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${file}`,
    `  Windows:      certutil -addstore -f Root ${file}   (as Administrator)`,
  ].join('\n');
}
