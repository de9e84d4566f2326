import { BackupCard } from './features/backup/BackupCard';
import { CertificatesCard } from './features/certificates/CertificatesCard';
import { CredentialsCard } from './features/credentials/CredentialsCard';
import { JobsCard } from './features/jobs/JobsCard';
import { LoggingCard } from './features/logging/LoggingCard';
import { ProxyCard } from './features/proxy/ProxyCard';
import { RemoteAccessCard } from './features/remote-access/RemoteAccessCard';
import { NodeCard } from './features/service/NodeCard';
import { SecretStoreCard } from './features/service/SecretStoreCard';
import { ServiceCard } from './features/service/ServiceCard';
import { VersionBanner } from './features/update/VersionBanner';
import { useApp } from './store';

/** The Settings tab: the cards of every feature, in this order. Each card owns its data and dialogs. */
export function SettingsPanel() {
  const report = useApp((s) => s.report);
  if (!report) return null;
  return (
    <div className="page">
      <h2 className="visually-hidden">Settings</h2>
      <VersionBanner report={report} />
      <div className="grid">
        <NodeCard report={report} />
        <ProxyCard report={report} />
        <RemoteAccessCard />
        <ServiceCard report={report} />
        <SecretStoreCard report={report} />
        <LoggingCard />
        <JobsCard />
        <CredentialsCard />
        <CertificatesCard />
        <BackupCard report={report} />
      </div>
    </div>
  );
}
