import { describeBackup } from '../shared/backup';
import type { OperationInput, OperationOutput, StatusReport } from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import { BACKUP_EXTENSION } from './backup/format';
import type { BackupService } from './backup/service';
import type { Registration } from './config';
import type { SourceLogger } from './logger';

export interface BackupWorkflowLinks {
  backups: Pick<BackupService, 'create' | 'inspect' | 'open' | 'apply'>;
  redactor: { add(secret: string): void };
  log: SourceLogger;
  registration: { readonly registering: boolean };
  serviceRunning: () => boolean;
  startService: () => Promise<unknown>;
  stopService: () => Promise<unknown>;
  /** Reads config, registration (a new session), proxy, remote access and jobs settings from disk again. */
  loadConfig: () => Promise<void>;
  /** A restore starts clean: the failure shown before is not the restored node's. */
  status: { setProblem(problem: null): void; report(sample: boolean): StatusReport };
  /** The restored credentials.json is news to an open Settings page, as a sync from a peer would be. */
  credentials: { publish(): Promise<void> };
  /** Waits (bounded) for the restored node's first Online. */
  session: { readonly registration: Registration | null; settle(): Promise<void> };
}

/**
 * Backing up and restoring the node: a restore is the one workflow that
 * crosses every service (stop, replace the files and secrets, load them all
 * again, start), so it lives here rather than in any one of them.
 */
export class BackupWorkflow {
  constructor(private readonly links: BackupWorkflowLinks) {}

  async create(input: OperationInput<'createBackup'>): Promise<OperationOutput<'createBackup'>> {
    this.links.redactor.add(input.password);
    const made = await this.links.backups.create(input.password);
    this.links.log.info('Backup made.', { files: made.files, secrets: made.secrets });
    const name = (made.info.node?.name ?? 'unregistered').replace(/[^A-Za-z0-9._-]/g, '-');
    return {
      fileName: `openir-${name}-${made.info.createdAt.slice(0, 10)}${BACKUP_EXTENSION}`,
      content: made.file.toString('base64'),
      info: made.info,
      contents: { files: made.files, secrets: made.secrets },
    };
  }

  inspect(input: OperationInput<'inspectBackup'>): OperationOutput<'inspectBackup'> {
    return this.links.backups.inspect(Buffer.from(input.content, 'base64'));
  }

  async restore(input: OperationInput<'restoreBackup'>): Promise<OperationOutput<'restoreBackup'>> {
    const { links } = this;
    links.redactor.add(input.password);
    const file = Buffer.from(input.content, 'base64');
    const info = links.backups.inspect(file);
    const current = links.session.registration;
    if (current && !input.replace) {
      throw new OpenIrError(
        'ALREADY_REGISTERED',
        `This node is already registered as "${current.nodeName}" in the integration runtime "${current.irName}"; the backup is of ${describeBackup(info)}.`,
        {
          fix: 'Restoring replaces this node’s registration, settings and secrets. Back up this node first if you may need it, then restore with --replace (Settings: tick “Replace this node”).',
        },
      );
    }
    if (links.registration.registering) {
      throw new OpenIrError('REGISTRATION_IN_PROGRESS', 'A registration is in progress on this node.', {
        fix: 'Wait for it to finish, then restore.',
      });
    }
    // Wrong password, damage or an unreadable payload all stop here, before anything is written.
    const opened = await links.backups.open(file, input.password);
    for (const secret of Object.values(opened.secrets)) links.redactor.add(secret);
    const wasRunning = links.serviceRunning();
    await links.stopService();
    try {
      await links.backups.apply(opened);
    } catch (error) {
      // `apply` put the old state back; carry on as before.
      await links.loadConfig();
      if (wasRunning) await links.startService();
      throw error;
    }
    await links.loadConfig();
    links.status.setProblem(null);
    void links.credentials.publish();
    links.log.info('Backup restored.', {
      nodeName: info.node?.name ?? null,
      irName: info.ir?.name ?? null,
      nodeId: info.node?.id ?? null,
      backedUpAt: info.createdAt,
    });
    await links.startService();
    if (links.session.registration) await links.session.settle();
    return {
      info,
      replaced: current
        ? { nodeName: current.nodeName, irName: current.irName, sameNode: current.nodeId === info.node?.id }
        : null,
      status: links.status.report(true),
    };
  }
}
