import type { StatusReport } from '../../../shared/contract';
import { Card, Fact, Facts } from '../../components/ui';
import { formatDateTime } from '../../format';

/** Settings → This node: its names, its control plane and the host process. */
export function NodeCard({ report }: { report: StatusReport }) {
  return (
    <Card title="This node">
      <Facts>
        <Fact label="Node name">{report.node ? <strong>{report.node.name}</strong> : <NotRegistered />}</Fact>
        <Fact label="Integration runtime">{report.ir ? report.ir.name : <NotRegistered />}</Fact>
        <Fact label="Machine name">
          {report.node ? <span className="mono break">{report.node.fqdn}</span> : '—'}
        </Fact>
        <Fact label="Control plane">
          {report.controlPlane ? <span className="mono break">{report.controlPlane.endpoint}</span> : '—'}
        </Fact>
        <Fact label="Data directory">
          <span className="mono break">{report.host.dataDir}</span>
        </Fact>
        <Fact label="Version">{report.version}</Fact>
        <Fact label="Host process">
          PID {report.host.pid}, up since {formatDateTime(report.host.startedAt)}
        </Fact>
      </Facts>
    </Card>
  );
}

function NotRegistered() {
  return <span className="muted">Not registered</span>;
}
