import { useId } from 'react';
import type { LogEntry, StatusReport } from '../../../shared/contract';
import { PulseIcon } from '../../components/Icons';
import { LevelBadge } from '../../components/LevelBadge';
import { STATUS_META, StatusBadge } from '../../components/StatusBadge';
import { Button, Callout, Card, ErrorDetails, Fact, Facts, Gauge } from '../../components/ui';
import {
  formatBytes,
  formatDateTime,
  formatDurationSince,
  formatPercent,
  formatClock,
  useNow,
} from '../../format';
import { useApp } from '../../store';
import { RecentJobsCard } from '../jobs/RecentJobsCard';
import { VersionBanner } from '../update/VersionBanner';

export function HomePanel() {
  const report = useApp((s) => s.report);
  if (!report) return null;
  return (
    <div className="page">
      <h2 className="visually-hidden">Status</h2>
      <StatusHero report={report} />
      <VersionBanner report={report} />
      <div className="grid">
        <ConnectionCard report={report} />
        <ResourcesCard report={report} />
      </div>
      <RecentJobsCard report={report} />
      <NodesCard report={report} />
      <RecentEventsCard />
    </div>
  );
}

function StatusHero({ report }: { report: StatusReport }) {
  const meta = STATUS_META[report.status];
  const IconFor = meta.icon;
  const now = useNow(30_000);
  return (
    <section className={`hero hero--${meta.tone}`} aria-label="Node state">
      <div className="hero__main">
        <span className="hero__icon" aria-hidden="true">
          <IconFor size={32} className={meta.tone === 'busy' ? 'icon--spin' : undefined} />
        </span>
        <div className="hero__text">
          <p className="hero__state">{report.status}</p>
          <p className="hero__description">{meta.description}</p>
          {report.connectedSince && (report.status === 'Online' || report.status === 'Limited') ? (
            <p className="hero__since muted">
              Connected for {formatDurationSince(report.connectedSince, now)}
            </p>
          ) : null}
        </div>
      </div>
      {report.status === 'Pending' ? (
        <PendingApproval report={report} />
      ) : report.lastError ? (
        <Callout
          tone={report.status === 'Online' ? 'warn' : 'error'}
          title="Last error reported by this node"
        >
          <ErrorDetails error={report.lastError} />
        </Callout>
      ) : null}
    </section>
  );
}

/**
 * Waiting for an admin: the one thing to do is hand over this node's name and
 * sync key fingerprint, so both are shown large enough to read out and copy.
 */
function PendingApproval({ report }: { report: StatusReport }) {
  const ir = report.ir?.name ?? '<ir>';
  const node = report.node?.name ?? '<node>';
  const fingerprint = report.syncKeyFingerprint ?? '<fingerprint>';
  return (
    <Callout tone="info" title="Waiting for approval" role="status">
      <p>
        This node is registered, but it gets no jobs and no credentials until an administrator of the control
        plane approves it. Give them this node&apos;s name and sync key fingerprint to compare:
      </p>
      <Facts>
        <Fact label="Node">
          <strong>{node}</strong>
        </Fact>
        <Fact label="Sync key fingerprint">
          <span className="mono break" data-testid="sync-key-fingerprint">
            {fingerprint}
          </span>
        </Fact>
      </Facts>
      <p className="muted small">
        They approve it with:{' '}
        <code className="break">
          openir-control-plane ir approve {ir} {node} --fingerprint {fingerprint}
        </code>
      </p>
    </Callout>
  );
}

function ConnectionCard({ report }: { report: StatusReport }) {
  const now = useNow(30_000);
  return (
    <Card title="Integration runtime">
      <Facts>
        <Fact label="Integration runtime">
          {report.ir ? (
            <>
              <strong>{report.ir.name}</strong> <span className="muted small">({report.ir.id})</span>
            </>
          ) : (
            '—'
          )}
        </Fact>
        {report.ir?.sharedWith?.length ? (
          <Fact label="Shared with">
            <span data-testid="shared-with">{report.ir.sharedWith.join(', ')}</span>
          </Fact>
        ) : null}
        <Fact label="This node">
          {report.node ? (
            <>
              <strong>{report.node.name}</strong> <span className="muted small">{report.node.fqdn}</span>
            </>
          ) : (
            '—'
          )}
        </Fact>
        <Fact label="Control plane">
          {report.controlPlane ? <span className="mono break">{report.controlPlane.endpoint}</span> : '—'}
        </Fact>
        <Fact label="Connected since">
          {report.connectedSince ? (
            <>
              {formatDateTime(report.connectedSince)}{' '}
              <span className="muted small">({formatDurationSince(report.connectedSince, now)})</span>
            </>
          ) : (
            <span className="muted">Not connected</span>
          )}
        </Fact>
        <Fact label="Sync key fingerprint">
          {report.syncKeyFingerprint ? (
            <span className="mono break small">{report.syncKeyFingerprint}</span>
          ) : (
            '—'
          )}
        </Fact>
        <Fact label="Version">{report.version}</Fact>
      </Facts>
    </Card>
  );
}

function ResourcesCard({ report }: { report: StatusReport }) {
  const system = useApp((s) => s.system) ?? report.system;
  const memoryPercent =
    system.memoryTotalBytes > 0 ? (system.memoryUsedBytes / system.memoryTotalBytes) * 100 : 0;
  const jobsPercent = report.jobs.limit > 0 ? (report.jobs.running / report.jobs.limit) * 100 : 0;
  return (
    <Card title="Jobs and resources">
      <div className="gauges">
        <Gauge
          label="Running jobs"
          percent={jobsPercent}
          valueText={`${report.jobs.running} of ${report.jobs.limit} (limit)`}
        />
        <Gauge label="CPU" percent={system.cpuPercent} valueText={formatPercent(system.cpuPercent)} />
        <Gauge
          label="Memory"
          percent={memoryPercent}
          valueText={`${formatBytes(system.memoryUsedBytes)} of ${formatBytes(system.memoryTotalBytes)}`}
        />
      </div>
    </Card>
  );
}

function NodesCard({ report }: { report: StatusReport }) {
  const headingId = useId();
  const nodes = report.irNodes;
  return (
    <section className="card" aria-labelledby={headingId}>
      <header className="card__header">
        <h3 id={headingId} className="card__title">
          <span>Nodes in this integration runtime</span>
        </h3>
        <span className="muted small">
          {nodes.length === 1 ? '1 node' : `${nodes.length} nodes`}, as the control plane sees them
        </span>
      </header>
      <div className="table-scroll">
        <table className="table" aria-labelledby={headingId}>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Status</th>
              <th scope="col">Machine</th>
              <th scope="col">Version</th>
              <th scope="col">Jobs</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {nodes.length === 0 ? (
              <tr>
                <td colSpan={6} className="table__empty">
                  {report.status === 'Online' || report.status === 'Limited'
                    ? 'The control plane has not listed the nodes yet.'
                    : 'The list of nodes comes from the control plane; it appears once this node is connected.'}
                </td>
              </tr>
            ) : (
              nodes.map((node) => {
                const self = node.nodeId === report.node?.id;
                return (
                  <tr key={node.nodeId} className={self ? 'table__row--self' : undefined}>
                    <th scope="row">
                      {node.name}
                      {self ? <span className="tag">this node</span> : null}
                    </th>
                    <td>
                      <StatusBadge status={node.status} />
                    </td>
                    <td className="mono small">{node.fqdn}</td>
                    <td>{node.version}</td>
                    <td>
                      {node.runningJobs} / {node.jobLimit}
                    </td>
                    <td>
                      {node.lastSeenAt ? (
                        formatDateTime(node.lastSeenAt)
                      ) : (
                        <span className="muted">Never</span>
                      )}
                    </td>
                  </tr>
                );
              })
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function RecentEventsCard() {
  const recent = useApp((s) => s.recent);
  const setTab = useApp((s) => s.setTab);
  const newestFirst = [...recent].reverse();
  return (
    <Card
      title="Recent events"
      actions={
        <Button variant="ghost" icon={<PulseIcon size={18} />} onClick={() => setTab('diagnostics')}>
          Open diagnostics
        </Button>
      }
    >
      {newestFirst.length === 0 ? (
        <p className="muted">No events yet.</p>
      ) : (
        <ol className="events">
          {newestFirst.map((entry, index) => (
            <EventRow key={`${entry.time}-${index}`} entry={entry} />
          ))}
        </ol>
      )}
    </Card>
  );
}

function EventRow({ entry }: { entry: LogEntry }) {
  return (
    <li className="events__item">
      <time className="events__time mono small" dateTime={entry.time} title={formatDateTime(entry.time)}>
        {formatClock(entry.time)}
      </time>
      <LevelBadge level={entry.level} />
      <span className="events__message">{entry.message}</span>
    </li>
  );
}
