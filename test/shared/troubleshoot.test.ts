import { describe, expect, it } from 'vitest';
import {
  escapeHtml,
  firstFailure,
  formatTroubleshootText,
  renderTroubleshootHtml,
  TroubleshootReportSchema,
  type TroubleshootReport,
} from '../../src/shared/troubleshoot';

const HOSTILE = '<img src=x onerror="alert(1)">';

/** A report whose every free-text field carries markup, as names, hosts and server messages could. */
function hostileReport(): TroubleshootReport {
  return TroubleshootReportSchema.parse({
    reportVersion: 1,
    startedAt: '2026-12-03T10:00:00.000Z',
    ms: 12.5,
    node: { name: HOSTILE, ir: HOSTILE, fqdn: HOSTILE, version: '0.1.0', controlPlane: HOSTILE },
    ok: false,
    firstFailure: {
      checkId: `dataStore:${HOSTILE}`,
      label: `Data store ${HOSTILE}`,
      error: { code: 'DATA_STORE_AUTH_FAILED', message: HOSTILE, fix: `</td><script>alert(2)</script>` },
    },
    checks: [
      { id: 'dataDir', label: 'Data directory', result: 'passed', ms: 1, detail: HOSTILE },
      {
        id: `dataStore:${HOSTILE}`,
        label: `Data store ${HOSTILE}`,
        result: 'failed',
        ms: 3,
        steps: [{ label: HOSTILE, result: 'failed', ms: 2, detail: HOSTILE }],
        error: { code: 'DATA_STORE_AUTH_FAILED', message: HOSTILE, fix: `</td><script>alert(2)</script>` },
      },
    ],
    ports: [
      {
        direction: 'reach',
        purpose: `Data store ${HOSTILE}`,
        host: HOSTILE,
        port: 5432,
        tls: false,
        viaProxy: false,
        result: 'refused',
        ms: 1,
        detail: HOSTILE,
      },
    ],
  });
}

describe('troubleshoot report rendering', () => {
  it('the HTML has no script and no markup from the values: everything is escaped', () => {
    const html = renderTroubleshootHtml(hostileReport());
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/onerror="/);
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(html).toContain('&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    // Self-contained: nothing fetched, and a CSP that forbids it anyway.
    expect(html).not.toMatch(/<link|<img|<iframe|src=["']?http/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).toMatch(/<strong>First failure: Data store &lt;img/);
  });

  it('the first failure is the first failed check in report order, whatever comes after', () => {
    const checks = [
      { id: 'a', label: 'A', result: 'passed' as const, ms: 1 },
      { id: 'b', label: 'B', result: 'skipped' as const, ms: 0 },
      {
        id: 'c',
        label: 'C',
        result: 'failed' as const,
        ms: 1,
        error: { code: 'TIMEOUT' as const, message: 'c' },
      },
      {
        id: 'd',
        label: 'D',
        result: 'failed' as const,
        ms: 1,
        error: { code: 'INTERNAL' as const, message: 'd' },
      },
    ];
    expect(firstFailure(checks)).toEqual({
      checkId: 'c',
      label: 'C',
      error: { code: 'TIMEOUT', message: 'c' },
    });
    expect(firstFailure(checks.slice(0, 2))).toBeNull();
  });

  it('the text table puts the first failure on its first line, with its fix', () => {
    const text = formatTroubleshootText(hostileReport());
    const lines = text.split('\n');
    expect(lines[0]).toBe(`FIRST FAILURE: Data store ${HOSTILE} [DATA_STORE_AUTH_FAILED]`);
    expect(lines[2]).toBe('  Fix: </td><script>alert(2)</script>');
    expect(text).toMatch(/Ports:\n {2}reach Data store/);
    expect(text).toContain('refused');
  });

  it('escapeHtml escapes the five characters that matter in content and attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});
