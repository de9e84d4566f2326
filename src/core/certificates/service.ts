import type { OperationInput, OperationOutput } from '../../shared/contract';
import type { CertificateInfo, StoredCertificate } from '../../shared/certificates';
import type { SourceLogger } from '../logger';
import { ViewFeed } from '../viewFeed';
import { CertificateStore, type CertificateStoreOptions, type ServingMaterial } from './store';

type CertificateList = OperationOutput<'listCertificates'>;

export interface CertificateServiceLinks extends Omit<CertificateStoreOptions, 'otherFqdns'> {
  /** The IR's nodes as the control plane last described them (this node included). */
  irNodes: () => readonly { fqdn: string }[];
  log: SourceLogger;
  /** Pushes `certificatesChanged`. */
  push: (list: CertificateList) => void;
}

/**
 * The certificate operations of the contract over the node's certificate
 * store, with their log lines. Pushes `certificatesChanged` when the list
 * changes: a certificate added, removed or (un)trusted, or the IR's nodes
 * changing the names a certificate must carry (call `refresh`).
 */
export class CertificateService {
  private readonly store: CertificateStore;
  private readonly feed: ViewFeed<CertificateList>;

  constructor(private readonly links: CertificateServiceLinks) {
    const own = links.fqdn.toLowerCase();
    this.store = new CertificateStore({
      ...links,
      // One certificate serves every node of the IR, so it must name them all.
      otherFqdns: () =>
        links
          .irNodes()
          .map((n) => n.fqdn)
          .filter((fqdn) => fqdn.toLowerCase() !== own),
    });
    this.feed = new ViewFeed(
      () => this.list(),
      links.push,
      (error) =>
        links.log.warn('The certificate list could not be read to tell the UI.', { cause: String(error) }),
    );
  }

  /** Reads the list again and pushes it if it changed. */
  refresh(): Promise<void> {
    return this.feed.refresh();
  }

  async list(): Promise<CertificateList> {
    return { fqdn: this.links.fqdn, certificates: await this.store.list() };
  }

  listSystem(): OperationOutput<'listSystemCertificates'> {
    return this.store.listSystem();
  }

  inspect(input: OperationInput<'inspectCertificate'>): Promise<CertificateInfo> {
    return this.store.inspect(Buffer.from(input.content, 'base64'), input.password);
  }

  /** For the remote-access listener: see `CertificateStore.tlsMaterialFor`. */
  tlsMaterialFor(thumbprint: string): Promise<ServingMaterial> {
    return this.store.tlsMaterialFor(thumbprint);
  }

  async import(input: OperationInput<'importCertificate'>): Promise<StoredCertificate> {
    const stored = await this.store.import(Buffer.from(input.content, 'base64'), input.password, {
      trust: input.trust ?? false,
    });
    this.links.log.info('Certificate imported.', {
      thumbprint: stored.thumbprint,
      subject: stored.subject,
      hasPrivateKey: stored.hasPrivateKey,
      trustAnchor: stored.trustAnchor,
    });
    await this.refresh();
    return stored;
  }

  async createSelfSigned(input: OperationInput<'createSelfSignedCertificate'>): Promise<StoredCertificate> {
    const stored = await this.store.createSelfSigned({
      ...(input.dnsNames ? { dnsNames: input.dnsNames } : {}),
      ...(input.days ? { days: input.days } : {}),
      ...(input.key ? { key: input.key } : {}),
    });
    this.links.log.info('Self-signed certificate created.', {
      thumbprint: stored.thumbprint,
      san: stored.san,
    });
    await this.refresh();
    return stored;
  }

  async export(input: OperationInput<'exportCertificate'>): Promise<OperationOutput<'exportCertificate'>> {
    const thumbprint = input.thumbprint;
    if (input.format === 'pem') {
      return { format: 'pem', thumbprint, data: await this.store.exportPem(thumbprint) };
    }
    const pfx = await this.store.exportPfx(thumbprint, input.password ?? '');
    this.links.log.info('Certificate exported as PFX.', { thumbprint });
    return { format: 'pfx', thumbprint, data: pfx.toString('base64') };
  }

  async remove(input: OperationInput<'removeCertificate'>): Promise<StoredCertificate> {
    const removed = await this.store.remove(input.thumbprint);
    this.links.log.info('Certificate removed.', { thumbprint: removed.thumbprint, subject: removed.subject });
    await this.refresh();
    return removed;
  }

  async setTrust(input: OperationInput<'setCertificateTrust'>): Promise<StoredCertificate> {
    const stored = await this.store.setTrust(input.thumbprint, input.trusted);
    this.links.log.info(
      input.trusted ? 'Certificate trusted on this node.' : 'Certificate no longer trusted here.',
      { thumbprint: stored.thumbprint },
    );
    await this.refresh();
    return stored;
  }
}
