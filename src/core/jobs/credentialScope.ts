import { OpenIrError } from '../../shared/errors';
import type { JobSink, JobSource } from '../../shared/jobs';

/** Who a job runs for, as the control plane's assignment says. */
export interface JobScope {
  source: JobSource;
  sink: JobSink;
  /** The data factory that submitted the job; absent from older control planes. */
  factory?: string | undefined;
  /** The data factory that owns this node's IR. */
  ownerFactory?: string | undefined;
}

/**
 * A linked factory's job (one submitted to a linked IR of another factory) may use only the
 * credentials that list that factory in allowFactories; anything else would hand one tenant's data
 * store to another. Checked before any source or sink opens: a refused job reads no byte and makes
 * no connection. Jobs of the owning factory, and jobs from control planes that send no factory,
 * use every credential as before.
 */
export async function checkCredentialScope(
  job: JobScope,
  allowedFactories: (credential: string) => Promise<string[] | null>,
): Promise<void> {
  const { factory, ownerFactory } = job;
  if (!factory || !ownerFactory || factory.toLowerCase() === ownerFactory.toLowerCase()) return;
  const names = [job.source.credential, ...(job.sink.type === 'credential' ? [job.sink.credential] : [])];
  for (const name of names) {
    const allowed = await allowedFactories(name);
    // A missing credential fails later with CREDENTIAL_NOT_FOUND, as for any job.
    if (allowed === null) continue;
    if (!allowed.some((entry) => entry.toLowerCase() === factory.toLowerCase())) {
      throw new OpenIrError(
        'CREDENTIAL_NOT_SHARED',
        `This job of data factory '${factory}' names the credential "${name}", which is not shared with '${factory}' (this node's IR belongs to '${ownerFactory}'). Nothing was read or written.`,
        {
          fix: `If '${ownerFactory}' means to let '${factory}' use it, run on a node: openir credential set ${name} … --allow-factory ${factory} (or list it under "Other data factories allowed" in the credential dialog); otherwise submit the job with a credential shared with '${factory}'.`,
        },
      );
    }
  }
}
