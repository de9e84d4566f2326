import type { OpenIrApi } from '../../../shared/api';
import type { CertificateInfo, StoredCertificate } from '../../../shared/certificates';
import type { OperationOutput } from '../../../shared/contract';
import type { UiError } from '../../errors';
import { attempt, type Outcome } from '../../state/outcome';
import { hostResource, nested, NOT_LOADED, type Loaded } from '../../state/resource';
import type { Slice } from '../../state/slice';

/** This node's store, each certificate checked against the TLS requirements for `fqdn`. */
export type CertificateList = OperationOutput<'listCertificates'>;

export type CertificateRowAction = 'export' | 'trust' | 'remove';

export interface CertificatesSlice {
  /** Pushed by `certificatesChanged` (an import, a removal, a trust change, a change of the IR's nodes). */
  certificates: Loaded<CertificateList>;
  /** A row action in progress (one at a time). */
  certificateAction: { thumbprint: string; action: CertificateRowAction } | null;
  /** The last row action's failure, with the row it belongs to. */
  certificateActionError: { thumbprint: string; error: UiError } | null;
  /** What the last row action did, in words, for the card's status line. */
  certificateNotice: string | null;
  refreshCertificates(): Promise<void>;
  receiveCertificates(list: CertificateList): void;
  /** File contents and passwords are passed through, never kept in the store. */
  inspectCertificate(input: { content: string; password?: string }): Promise<Outcome<CertificateInfo>>;
  importCertificate(input: {
    content: string;
    password?: string;
    trust?: boolean;
  }): Promise<Outcome<StoredCertificate>>;
  createSelfSignedCertificate(input: {
    dnsNames?: string[];
    days?: number;
    key?: 'rsa2048' | 'p256';
  }): Promise<Outcome<StoredCertificate>>;
  /** The public PEM, for a download; null after reporting the failure on the row. */
  exportCertificatePem(thumbprint: string): Promise<string | null>;
  setCertificateTrust(thumbprint: string, trusted: boolean): Promise<boolean>;
  removeCertificate(thumbprint: string): Promise<boolean>;
}

type CertificateApi = Pick<
  OpenIrApi,
  | 'listCertificates'
  | 'inspectCertificate'
  | 'importCertificate'
  | 'createSelfSignedCertificate'
  | 'exportCertificate'
  | 'setCertificateTrust'
  | 'removeCertificate'
>;

export const createCertificatesSlice =
  (api: CertificateApi): Slice<CertificatesSlice> =>
  (set, get) => {
    const list = hostResource(() => api.listCertificates({}), nested(set, 'certificates'));
    /** Runs a row action: one at a time, its failure shown on its row; the new list comes as an event. */
    const rowAction = async <T>(
      thumbprint: string,
      action: CertificateRowAction,
      run: () => Promise<T>,
      notice: (value: T) => string | null,
    ): Promise<T | null> => {
      if (get().certificateAction) return null;
      set({
        certificateAction: { thumbprint, action },
        certificateActionError: null,
        certificateNotice: null,
      });
      const outcome = await attempt(run);
      if (outcome.ok) {
        set({ certificateAction: null, certificateNotice: notice(outcome.value) });
        return outcome.value;
      }
      set({ certificateAction: null, certificateActionError: { thumbprint, error: outcome.error } });
      return null;
    };
    return {
      certificates: NOT_LOADED,
      certificateAction: null,
      certificateActionError: null,
      certificateNotice: null,
      refreshCertificates: list.refresh,
      receiveCertificates: list.receive,
      inspectCertificate: (input) => attempt(() => api.inspectCertificate(input)),
      importCertificate: (input) => attempt(() => api.importCertificate(input)),
      createSelfSignedCertificate: (input) => attempt(() => api.createSelfSignedCertificate(input)),
      async exportCertificatePem(thumbprint) {
        const result = await rowAction(
          thumbprint,
          'export',
          () => api.exportCertificate({ thumbprint, format: 'pem' }),
          () => null,
        );
        return result ? result.data : null;
      },
      async setCertificateTrust(thumbprint, trusted) {
        const result = await rowAction(
          thumbprint,
          'trust',
          () => api.setCertificateTrust({ thumbprint, trusted }),
          (cert) =>
            trusted
              ? `This node now trusts ${cert.subject || 'the certificate'}.`
              : `This node no longer trusts ${cert.subject || 'the certificate'}.`,
        );
        return result !== null;
      },
      async removeCertificate(thumbprint) {
        const result = await rowAction(
          thumbprint,
          'remove',
          () => api.removeCertificate({ thumbprint }),
          (cert) => `Removed ${cert.subject || 'the certificate'} from the store.`,
        );
        return result !== null;
      },
    };
  };
