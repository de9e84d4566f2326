import { z } from 'zod';
import { ErrorBodySchema } from './errors';
import { ControlPlaneTargetSchema } from './proxy';

/**
 * The troubleshoot report (`openir diagnose`, Diagnostics › Troubleshoot):
 * ordered checks from the node's own disk out to its control plane, its peers
 * and its data stores, each timed, the first failure named at the top with
 * its fix; and the ports table, every address the node must reach or serve.
 * Pure: the schema, the summary helpers and the self-contained HTML renderer
 * (the diagnostics bundle embeds the same HTML).
 */

export const CHECK_RESULTS = ['passed', 'failed', 'skipped'] as const;
export const CheckResultSchema = z.enum(CHECK_RESULTS);
export type CheckResult = z.infer<typeof CheckResultSchema>;

/** One sub-step of a check (the proxy test's resolve / connect / tunnel, a peer's TCP / TLS / sealed health). */
export const TroubleshootStepSchema = z.object({
  label: z.string(),
  result: CheckResultSchema,
  ms: z.number().nonnegative(),
  detail: z.string().optional(),
});
export type TroubleshootStep = z.infer<typeof TroubleshootStepSchema>;

export const TroubleshootCheckSchema = z.object({
  /** Stable id: `dataDir`, `vault`, `clock`, `dns`, `tcp`, `proxy`, `tls`, `nodeCredential`, `channel`, `peer:<name>`, `remoteAccess`, `dataStore:<name>`. */
  id: z.string(),
  label: z.string(),
  result: CheckResultSchema,
  /** Wall time of the check; 0 for a skipped one. */
  ms: z.number().nonnegative(),
  /** What was seen (passed), or why it did not run (skipped). */
  detail: z.string().optional(),
  steps: z.array(TroubleshootStepSchema).optional(),
  /** A failed check's coded error with its fix. */
  error: ErrorBodySchema.optional(),
});
export type TroubleshootCheck = z.infer<typeof TroubleshootCheckSchema>;

export const PORT_RESULTS = ['open', 'refused', 'timedOut', 'tlsFailed', 'unresolved', 'error'] as const;
export const PortResultSchema = z.enum(PORT_RESULTS);
export type PortResult = z.infer<typeof PortResultSchema>;

export const PortRowSchema = z.object({
  /** `reach`: an address this node connects to; `serve`: a port this node listens on, tried at its advertised address. */
  direction: z.enum(['reach', 'serve']),
  /** What the address is, e.g. "Control plane", "Peer node2 (remote access)", "Data store sales-db (postgresql)". */
  purpose: z.string(),
  host: z.string(),
  port: z.number().int().min(0).max(65535),
  /** The TLS handshake is part of the row (the control plane, TLS peers, HTTPS stores). */
  tls: z.boolean(),
  /** The row went through the HTTP proxy (CONNECT), not directly. */
  viaProxy: z.boolean(),
  result: PortResultSchema,
  ms: z.number().nonnegative(),
  detail: z.string().optional(),
});
export type PortRow = z.infer<typeof PortRowSchema>;

export const TroubleshootReportSchema = z.object({
  /** Bumped when the shape changes; the bundle and support tools read it. */
  reportVersion: z.literal(1),
  startedAt: z.string(),
  ms: z.number().nonnegative(),
  node: z.object({
    name: z.string().nullable(),
    ir: z.string().nullable(),
    fqdn: z.string(),
    version: z.string(),
    controlPlane: z.string().nullable(),
  }),
  ok: z.boolean(),
  /** The first failed check, named at the top with its fix; null when none failed. */
  firstFailure: z.object({ checkId: z.string(), label: z.string(), error: ErrorBodySchema }).nullable(),
  checks: z.array(TroubleshootCheckSchema),
  ports: z.array(PortRowSchema),
});
export type TroubleshootReport = z.infer<typeof TroubleshootReportSchema>;

/** `runTroubleshoot`: optionally a control plane to try instead of the registered one (the Register page, from a pasted key). */
export const RunTroubleshootInputSchema = z.object({ target: ControlPlaneTargetSchema.optional() }).strict();
export type RunTroubleshootInput = z.infer<typeof RunTroubleshootInputSchema>;

/** The first failed check, in report order. */
export function firstFailure(checks: readonly TroubleshootCheck[]): TroubleshootReport['firstFailure'] {
  const failed = checks.find((check) => check.result === 'failed');
  if (!failed) return null;
  return {
    checkId: failed.id,
    label: failed.label,
    error: failed.error ?? { code: 'INTERNAL', message: `${failed.label} failed.` },
  };
}

export const PORT_RESULT_LABELS: Record<PortResult, string> = {
  open: 'open',
  refused: 'refused',
  timedOut: 'timed out',
  tlsFailed: 'TLS failed',
  unresolved: 'name not resolved',
  error: 'error',
};

export const CHECK_RESULT_LABELS: Record<CheckResult, string> = {
  passed: 'passed',
  failed: 'FAILED',
  skipped: 'skipped',
};

/** HTML-escapes text for element content and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#fff;--line:#d6dae0;--ok:#1a7f37;--bad:#c62828;--skip:#8a6d00;--box:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#9aa4b1;--bg:#15181c;--line:#333a42;--ok:#3fb950;--bad:#ff6b6b;--skip:#d4a72c;--box:#1e2227}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.meta{color:var(--muted);margin:0 0 1rem}
.summary{border:1px solid var(--line);border-left:6px solid var(--ok);background:var(--box);padding:.75rem 1rem;border-radius:6px}
.summary.bad{border-left-color:var(--bad)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.ms{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.passed,.open{color:var(--ok);font-weight:600}.failed,.refused,.timedOut,.tlsFailed,.unresolved,.error{color:var(--bad);font-weight:600}.skipped{color:var(--skip);font-weight:600}
.steps{margin:.25rem 0 0;padding-left:1.1rem;color:var(--muted)}
.fix{margin:.25rem 0 0}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
`;

/**
 * The report as one self-contained HTML page: inline CSS, no script, no
 * external resource, readable offline; every value escaped, since names,
 * hosts and error messages come from users and remote servers.
 */
export function renderTroubleshootHtml(report: TroubleshootReport): string {
  const e = escapeHtml;
  const failure = report.firstFailure;
  const who = [
    report.node.name ? `Node ${report.node.name}` : 'Unregistered node',
    report.node.ir ? `in ${report.node.ir}` : null,
    `(${report.node.fqdn}, OpenIR ${report.node.version})`,
  ]
    .filter(Boolean)
    .join(' ');
  const summary = failure
    ? `<div class="summary bad"><strong>First failure: ${e(failure.label)}</strong> <code>${e(failure.error.code)}</code><p>${e(failure.error.message)}</p>${failure.error.fix ? `<p class="fix"><strong>Fix:</strong> ${e(failure.error.fix)}</p>` : ''}</div>`
    : `<div class="summary"><strong>All checks passed.</strong></div>`;
  const checkRows = report.checks
    .map((check, index) => {
      const steps = check.steps?.length
        ? `<ul class="steps">${check.steps
            .map(
              (step) =>
                `<li><span class="${e(step.result)}">${e(CHECK_RESULT_LABELS[step.result])}</span> ${e(step.label)} (${e(step.ms)} ms)${step.detail ? `: ${e(step.detail)}` : ''}</li>`,
            )
            .join('')}</ul>`
        : '';
      const error = check.error
        ? `<div><code>${e(check.error.code)}</code> ${e(check.error.message)}</div>${check.error.fix ? `<div class="fix"><strong>Fix:</strong> ${e(check.error.fix)}</div>` : ''}`
        : '';
      return `<tr><td>${index + 1}</td><td>${e(check.label)}</td><td class="${e(check.result)}">${e(CHECK_RESULT_LABELS[check.result])}</td><td class="ms">${e(check.ms)} ms</td><td>${check.detail ? e(check.detail) : ''}${error}${steps}</td></tr>`;
    })
    .join('\n');
  const portRows = report.ports
    .map(
      (row) =>
        `<tr><td>${row.direction === 'reach' ? 'reach' : 'serve'}</td><td>${e(row.purpose)}</td><td><code>${e(formatHostPort(row.host, row.port))}</code>${row.tls ? ' TLS' : ''}${row.viaProxy ? ' via proxy' : ''}</td><td class="${e(row.result)}">${e(PORT_RESULT_LABELS[row.result])}</td><td class="ms">${e(row.ms)} ms</td><td>${row.detail ? e(row.detail) : ''}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>OpenIR troubleshoot report</title>
<style>${CSS}</style>
</head>
<body>
<h1>OpenIR troubleshoot report</h1>
<p class="meta">${e(who)}. Control plane: ${e(report.node.controlPlane ?? 'none')}. Run at ${e(report.startedAt)}, took ${e(report.ms)} ms.</p>
${summary}
<h2>Checks, in order</h2>
<table>
<thead><tr><th>#</th><th>Check</th><th>Result</th><th>Time</th><th>Detail</th></tr></thead>
<tbody>
${checkRows}
</tbody>
</table>
<h2>Ports</h2>
<table>
<thead><tr><th></th><th>What</th><th>Address</th><th>Result</th><th>Time</th><th>Detail</th></tr></thead>
<tbody>
${portRows || '<tr><td colspan="6">No addresses to test.</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}

export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The report as a plain-text table for the CLI: the first failure at the top, then the checks, then the ports. */
export function formatTroubleshootText(report: TroubleshootReport): string {
  const lines: string[] = [];
  const failure = report.firstFailure;
  if (failure) {
    lines.push(`FIRST FAILURE: ${failure.label} [${failure.error.code}]`);
    lines.push(`  ${failure.error.message}`);
    if (failure.error.fix) lines.push(`  Fix: ${failure.error.fix}`);
  } else lines.push('All checks passed.');
  lines.push('');
  const width = Math.max(5, ...report.checks.map((check) => check.label.length));
  report.checks.forEach((check, index) => {
    const number = String(index + 1).padStart(2);
    const result = CHECK_RESULT_LABELS[check.result].padEnd(7);
    const ms = `${check.ms} ms`.padStart(10);
    const note = check.error ? `${check.error.code}: ${check.error.message}` : (check.detail ?? '');
    lines.push(`${number}. ${check.label.padEnd(width)}  ${result} ${ms}  ${note}`);
    for (const step of check.steps ?? []) {
      lines.push(
        `      ${CHECK_RESULT_LABELS[step.result].padEnd(7)} ${step.label} (${step.ms} ms)${step.detail ? `: ${step.detail}` : ''}`,
      );
    }
    if (check.error?.fix) lines.push(`      Fix: ${check.error.fix}`);
  });
  lines.push('');
  lines.push('Ports:');
  if (report.ports.length === 0) lines.push('  (no addresses to test)');
  for (const row of report.ports) {
    const address = `${formatHostPort(row.host, row.port)}${row.tls ? ' TLS' : ''}${row.viaProxy ? ' via proxy' : ''}`;
    lines.push(
      `  ${row.direction.padEnd(5)} ${row.purpose.padEnd(36)} ${address.padEnd(32)} ${PORT_RESULT_LABELS[row.result].padEnd(17)} ${`${row.ms} ms`.padStart(10)}${row.detail ? `  ${row.detail}` : ''}`,
    );
  }
  return lines.join('\n');
}
