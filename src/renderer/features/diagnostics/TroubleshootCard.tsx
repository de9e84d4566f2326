import { useEffect, useId, useRef } from 'react';
import {
  formatHostPort,
  PORT_RESULT_LABELS,
  renderTroubleshootHtml,
  type PortRow,
  type TroubleshootCheck,
  type TroubleshootReport,
} from '../../../shared/troubleshoot';
import { formatMs } from '../../components/CheckSection';
import { CheckCircleIcon, DownloadIcon, ErrorCircleIcon, InfoIcon, PlayIcon } from '../../components/Icons';
import { Button, Callout, Card, ErrorDetails, Spinner } from '../../components/ui';
import { downloadText } from '../../files';
import { useApp } from '../../store';

/**
 * Diagnostics › Troubleshoot: runs the ordered checks of `openir diagnose`,
 * names the first failure on top with its fix, lists every check with its
 * timing, then the ports table; the report saves as one offline HTML file.
 */
export function TroubleshootCard() {
  const { running, report, error, requested } = useApp((s) => s.troubleshoot);
  const run = useApp((s) => s.runTroubleshoot);
  const ref = useRef<HTMLDivElement>(null);
  const ids = { checks: useId(), ports: useId() };

  // Opened from another page (a failed registration): bring the section into view.
  useEffect(() => {
    if (requested > 0) ref.current?.scrollIntoView({ block: 'start' });
  }, [requested]);

  const save = (value: TroubleshootReport) => {
    const stamp = value.startedAt.replace(/[:.]/g, '-');
    downloadText(`openir-troubleshoot-${stamp}.html`, renderTroubleshootHtml(value), 'text/html');
  };

  return (
    <div ref={ref} id="troubleshoot" className="troubleshoot">
      <Card
        title="Troubleshoot"
        actions={
          <>
            <Button variant="primary" icon={<PlayIcon size={18} />} busy={running} onClick={() => void run()}>
              {report ? 'Run again' : 'Run troubleshoot'}
            </Button>
            <Button
              icon={<DownloadIcon size={18} />}
              disabled={!report || running}
              onClick={() => report && save(report)}
            >
              Save HTML report
            </Button>
          </>
        }
      >
        <p className="small muted">
          Checks this node in order: data directory and disk, secret store, clock, DNS, TCP, proxy, TLS with
          the pin, node credential, control channel, each peer, this node&apos;s remote-access listener and
          each data store; then every port it must reach or serve. The same report as{' '}
          <code>openir diagnose</code>.
        </p>
        <div role="status" className="check-section__status">
          {running ? (
            <span className="inline-status">
              <Spinner />
              <span>Running the checks… this can take up to a minute when something times out.</span>
            </span>
          ) : report && !report.firstFailure ? (
            <span className="inline-status tone-ok">
              <CheckCircleIcon size={18} />
              <span>
                All {report.checks.length} checks passed in {formatMs(report.ms)}.
              </span>
            </span>
          ) : null}
        </div>
        <div role="alert" className="alert-slot">
          {error ? (
            <Callout tone="error" title="The troubleshoot report could not run.">
              <ErrorDetails error={error} />
            </Callout>
          ) : report?.firstFailure ? (
            <Callout tone="error" title={`First failure: ${report.firstFailure.label}`}>
              <ErrorDetails error={report.firstFailure.error} />
            </Callout>
          ) : null}
        </div>
        {report ? (
          <>
            <h4 id={ids.checks} className="check-section__title">
              Checks, in order
            </h4>
            <ol className="proxy-steps troubleshoot__checks" aria-labelledby={ids.checks}>
              {report.checks.map((check, index) => (
                <CheckRow key={check.id} check={check} index={index} />
              ))}
            </ol>
            <h4 id={ids.ports} className="check-section__title">
              Ports
            </h4>
            <PortsTable rows={report.ports} labelledBy={ids.ports} />
            <p className="small muted">
              Run at {new Date(report.startedAt).toLocaleString()} on {report.node.fqdn}.
            </p>
          </>
        ) : null}
      </Card>
    </div>
  );
}

function CheckRow({ check, index }: { check: TroubleshootCheck; index: number }) {
  const failed = check.result === 'failed';
  return (
    <li
      className={`proxy-step proxy-step--${failed ? 'bad' : check.result === 'skipped' ? 'skip' : 'ok'}`}
      data-check={check.id}
    >
      {failed ? (
        <ErrorCircleIcon size={18} className="proxy-step__icon" />
      ) : check.result === 'skipped' ? (
        <InfoIcon size={18} className="proxy-step__icon" />
      ) : (
        <CheckCircleIcon size={18} className="proxy-step__icon" />
      )}
      <span className="proxy-step__label">
        {index + 1}. {check.label}
      </span>
      <span className="proxy-step__result">
        {failed ? 'Failed' : check.result === 'skipped' ? 'Skipped' : 'Passed'}
        <span aria-hidden="true"> · </span>
        <span className="visually-hidden">, </span>
        {formatMs(check.ms)}
      </span>
      <span className="proxy-step__detail">
        {check.error ? (
          <>
            {check.error.message} <span className="troubleshoot__code">[{check.error.code}]</span>
            {check.error.fix ? (
              <>
                <br />
                <strong>How to fix:</strong> {check.error.fix}
              </>
            ) : null}
          </>
        ) : (
          check.detail
        )}
        {check.steps && check.steps.length > 0 ? (
          <ul className="troubleshoot__steps">
            {check.steps.map((step, i) => (
              <li key={i} className={step.result === 'failed' ? 'tone-bad' : undefined}>
                {step.result === 'failed' ? 'Failed' : step.result === 'skipped' ? 'Skipped' : 'Passed'}:{' '}
                {step.label} ({formatMs(step.ms)}){step.detail ? `: ${step.detail}` : ''}
              </li>
            ))}
          </ul>
        ) : null}
      </span>
    </li>
  );
}

function PortsTable({ rows, labelledBy }: { rows: PortRow[]; labelledBy: string }) {
  return (
    <div className="table-scroll">
      <table className="table troubleshoot__ports" aria-labelledby={labelledBy}>
        <thead>
          <tr>
            <th scope="col">Direction</th>
            <th scope="col">What</th>
            <th scope="col">Address</th>
            <th scope="col">Result</th>
            <th scope="col">Time</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={5} className="table__empty">
                No addresses to test yet: register the node first.
              </td>
            </tr>
          ) : (
            rows.map((row, i) => (
              <tr key={i} data-port-result={row.result} title={row.detail}>
                <td>{row.direction === 'reach' ? 'Reach' : 'Serve'}</td>
                <th scope="row">{row.purpose}</th>
                <td>
                  <code>{formatHostPort(row.host, row.port)}</code>
                  {row.tls ? ' TLS' : ''}
                  {row.viaProxy ? ' via proxy' : ''}
                </td>
                <td className={row.result === 'open' ? 'tone-ok' : 'tone-bad'}>
                  {PORT_RESULT_LABELS[row.result]}
                </td>
                <td className="troubleshoot__ms">{formatMs(row.ms)}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
