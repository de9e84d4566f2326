import type { StatusReport } from '../../../shared/contract';
import { ShieldIcon } from '../../components/Icons';
import { Callout, Card } from '../../components/ui';

/** Settings → Secret store: where this node's secrets are kept, and how well. */
export function SecretStoreCard({ report }: { report: StatusReport }) {
  const vault = report.vault;
  const weak = vault.strength === 'weak';
  return (
    <Card
      title="Secret store"
      className={weak ? 'card--warn' : undefined}
      icon={<ShieldIcon size={20} weak={weak} className={weak ? 'tone-warn' : 'tone-ok'} />}
    >
      <p className="secret-store__label">
        <strong>{vault.label}</strong>
        <span className={`strength strength--${vault.strength}`}>
          {weak ? 'Weaker protection' : 'Strong protection'}
        </span>
      </p>
      {weak ? (
        <Callout
          tone="warn"
          title="Secrets on this node are less well protected than with an OS secret store."
        >
          <p>{vault.description}</p>
        </Callout>
      ) : (
        <p>{vault.description}</p>
      )}
      <p className="muted small">
        It protects this node&apos;s own secrets (its node credential and proxy password) and the data store
        credentials kept on this node.
      </p>
    </Card>
  );
}
