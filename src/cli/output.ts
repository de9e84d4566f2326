import type { StatusReport } from '../shared/contract';
import { toErrorBody, type ErrorBody } from '../shared/errors';
import type { Io } from './main';

/** Everything the CLI prints goes through here, so --json and human output never drift apart. */
export interface Output {
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

export function printResult(o: Output, value: unknown, human: () => string): void {
  o.out(o.json ? JSON.stringify(value, null, 2) : human());
}

/** Failure: one line on stderr (and the error object on stdout with --json); the caller exits non-zero. */
export function printError(o: Output, error: unknown): ErrorBody {
  const body = toErrorBody(error);
  if (o.json) o.out(JSON.stringify({ error: body }, null, 2));
  o.err(`openir: ${body.message}${body.fix ? ` ${body.fix}` : ''} [${body.code}]`);
  return body;
}

export function formatStatus(s: StatusReport): string {
  const rows: [string, string][] = [['Status', s.status]];
  if (s.ir) rows.push(['Integration runtime', `${s.ir.name} (${s.ir.id})`]);
  if (s.node) rows.push(['Node', `${s.node.name} (${s.node.fqdn})`]);
  if (s.controlPlane) rows.push(['Control plane', s.controlPlane.endpoint]);
  if (s.connectedSince) rows.push(['Connected since', s.connectedSince]);
  rows.push(['Version', s.version]);
  rows.push(['Jobs', `${s.jobs.running} running / ${s.jobs.limit} limit`]);
  rows.push(['Secret store', s.vault.strength === 'strong' ? `${s.vault.label} (strong)` : s.vault.label]);
  if (s.irNodes.length > 0) rows.push(['IR nodes', s.irNodes.map((n) => `${n.name} ${n.status}`).join(', ')]);
  if (s.lastError) rows.push(['Last error', `${s.lastError.message} [${s.lastError.code}]`]);
  rows.push(['Data directory', s.host.dataDir]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  if (s.status === 'NeedRegistration')
    lines.push('', 'Register this node with: openir register --key-stdin < key.txt');
  if (s.vault.strength === 'weak') lines.push('', `Warning: ${s.vault.description}`);
  return lines.join('\n');
}

/** A secret (password, token) is the whole of standard input, less one trailing newline (as `echo` adds). */
export async function readSecretFromStdin(io: Io): Promise<string> {
  return (await io.readStdin()).replace(/\r?\n$/, '');
}
