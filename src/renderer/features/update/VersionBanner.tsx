import type { StatusReport } from '../../../shared/contract';
import { Callout } from '../../components/ui';

/**
 * The control plane's version policy as it applies to this node, on Home and
 * Settings: an update to install, and (from 90 days before) the date this
 * version stops being accepted. A refused version shows as the node's last
 * error (VERSION_EXPIRED) instead, with its fix.
 */
export function VersionBanner({ report }: { report: StatusReport }) {
  const standing = report.versionStanding;
  if (!standing || standing.refused) return null;
  const { updateAvailable, expiresOn } = standing;
  if (!updateAvailable && !expiresOn) return null;
  return (
    <div className="version-banner" data-testid="version-banner">
      {expiresOn ? (
        <Callout tone="warn" title={`This version expires on ${expiresOn}`} role="status">
          <p>
            From that day the control plane refuses OpenIR {standing.version}: this node goes Offline.
            {updateAvailable ? ` Update to ${updateAvailable} before then.` : ''}
          </p>
        </Callout>
      ) : null}
      {updateAvailable ? (
        <Callout tone="info" title={`Update available: ${updateAvailable}`} role="status">
          <p>
            This node runs {standing.version}. To update it without stopping jobs midway, use{' '}
            <strong>Drain and stop</strong> (Settings › Runtime host service) first, one node of the
            integration runtime at a time.
          </p>
        </Callout>
      ) : null}
    </div>
  );
}
