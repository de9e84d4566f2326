import type { CertificateInfo } from '../../../shared/certificates';
import { CheckCircleIcon, ErrorCircleIcon, WarningIcon } from '../../components/Icons';
import { Callout, Code } from '../../components/ui';
import { formatDateTime } from '../../format';
import { blockingProblems, keyText, shortThumbprint } from './certificateText';

/**
 * Certificates as every face shows them: status badges (never colour alone), compact facts, and the
 * requirement check with each problem's fix.
 */

/** Codes as badges; each badge's message is in its tooltip and, for assistive technology, in its text. */
export function CertificateStatus({ cert }: { cert: CertificateInfo }) {
  if (cert.problems.length === 0 && cert.warnings.length === 0)
    return (
      <span className="badge badge--ok">
        <CheckCircleIcon size={14} />
        <span>Meets the requirements</span>
      </span>
    );
  return (
    <span className="badge-row">
      {cert.problems.map((problem) => {
        const soft = problem.code === 'UNTRUSTED';
        return (
          <span
            key={problem.code}
            className={`badge badge--${soft ? 'warn' : 'bad'} badge--code`}
            title={problem.message}
          >
            {soft ? <WarningIcon size={14} /> : <ErrorCircleIcon size={14} />}
            <span>{problem.code}</span>
            <span className="visually-hidden">: {problem.message}</span>
          </span>
        );
      })}
      {cert.warnings.map((warning) => (
        <span key={warning.code} className="badge badge--warn badge--code" title={warning.message}>
          <WarningIcon size={14} />
          <span>{warning.code}</span>
          <span className="visually-hidden">: {warning.message}</span>
        </span>
      ))}
    </span>
  );
}

/** Subject, names, validity, key and thumbprint, compact. */
export function CertificateFacts({ cert }: { cert: CertificateInfo }) {
  return (
    <dl className="facts facts--compact cert-facts">
      <div className="facts__row">
        <dt>Names (SAN)</dt>
        <dd className="mono break">{cert.san.length > 0 ? cert.san.join(', ') : 'none'}</dd>
      </div>
      <div className="facts__row">
        <dt>Valid</dt>
        <dd>
          {formatDateTime(cert.notBefore)} – {formatDateTime(cert.notAfter)}
        </dd>
      </div>
      <div className="facts__row">
        <dt>Key</dt>
        <dd>
          {keyText(cert.key)}
          {cert.hasPrivateKey ? '' : ', no private key'}
          {cert.selfSigned ? ', self-signed' : ''}
        </dd>
      </div>
      <div className="facts__row">
        <dt>Thumbprint (SHA-1)</dt>
        <dd className="mono" title={cert.thumbprint}>
          <span aria-hidden="true">{shortThumbprint(cert.thumbprint)}</span>
          <span className="visually-hidden">{cert.thumbprint}</span>
        </dd>
      </div>
    </dl>
  );
}

const UNTRUSTED_STEPS =
  'Before other nodes join, install this certificate on each of them: Export PEM here (or `openir cert export <thumbprint> --pem --out node.pem`), then on each node import it with `openir cert import node.pem --trust` (Settings → Certificates → Import certificate, "Trust it on this node"), or add it to the node\'s OS trust store.';

/**
 * The requirement check of one certificate for remote access: what blocks it (with the fix), and UNTRUSTED
 * as a warning, since other nodes can install a self-signed certificate.
 */
export function RequirementCheck({ cert, titleId }: { cert: CertificateInfo; titleId?: string }) {
  const blocking = blockingProblems(cert);
  const untrusted = cert.problems.find((problem) => problem.code === 'UNTRUSTED');
  return (
    <div className="requirement-check">
      {blocking.length > 0 ? (
        <Callout
          tone="error"
          title={
            <span id={titleId}>
              This certificate cannot be used for remote access: {blocking.length} requirement
              {blocking.length === 1 ? ' is' : 's are'} not met.
            </span>
          }
        >
          <ul className="cert-problems">
            {blocking.map((problem) => (
              <li key={problem.code} className="cert-problem">
                <span className="badge badge--bad badge--code">{problem.code}</span>
                <p className="callout__reason">{problem.message}</p>
                <p className="callout__fix">
                  <strong>How to fix: </strong>
                  <Code text={problem.fix} />
                </p>
              </li>
            ))}
          </ul>
        </Callout>
      ) : (
        <p className="inline-status tone-ok" id={titleId}>
          <CheckCircleIcon size={18} />
          <span>
            {untrusted
              ? 'This certificate meets the requirements for this node.'
              : 'This certificate meets every requirement.'}
          </span>
        </p>
      )}
      {untrusted ? (
        <Callout tone="warn" title="Other nodes must trust this certificate (UNTRUSTED)">
          <p>{untrusted.message}</p>
          <p>
            <Code text={UNTRUSTED_STEPS} />
          </p>
        </Callout>
      ) : null}
      {cert.warnings.map((warning) => (
        <Callout key={warning.code} tone="warn" title={`Warning: ${warning.code}`}>
          <p>{warning.message}</p>
          <p className="callout__fix">
            <strong>What to do: </strong>
            <Code text={warning.fix} />
          </p>
        </Callout>
      ))}
    </div>
  );
}
