import type { CertificateInfo } from '../../../shared/certificates';
import {
  DEFAULT_REMOTE_ACCESS_PORT,
  RemoteAccessPortSchema,
  RemoteAccessSettingsSchema,
  type RemoteAccessMode,
  type RemoteAccessSettings,
} from '../../../shared/remoteAccess';
import { isUsable } from '../certificates/certificateText';

/** The reference product's words for the three settings. */
export const REMOTE_ACCESS_MODE_LABEL: Record<RemoteAccessMode, string> = {
  disabled: 'Disabled',
  plain: 'Enabled without TLS',
  tls: 'Enabled with TLS/SSL certificate',
};

export const REMOTE_ACCESS_MODE_HELP: Record<RemoteAccessMode, string> = {
  disabled:
    'Nothing listens. A second node cannot join this integration runtime while remote access is disabled.',
  plain: 'Not recommended: credentials cross the network unencrypted.',
  tls: 'Peers and intranet clients connect over TLS with a certificate from this node’s store.',
};

/** What the dialog (and the Register page) edits. The port stays text until the form is checked. */
export interface RemoteAccessForm {
  mode: RemoteAccessMode;
  port: string;
  /** SHA-1 thumbprint of the chosen certificate, or '' when none is chosen. */
  thumbprint: string;
}

export type RemoteAccessField = 'port' | 'certificate';
export type RemoteAccessProblems = Partial<Record<RemoteAccessField, string>>;

export function formFromSettings(settings: RemoteAccessSettings | null | undefined): RemoteAccessForm {
  if (!settings || settings.mode === 'disabled')
    return { mode: 'disabled', port: String(DEFAULT_REMOTE_ACCESS_PORT), thumbprint: '' };
  return {
    mode: settings.mode,
    port: String(settings.port),
    thumbprint: settings.mode === 'tls' ? settings.thumbprint : '',
  };
}

const firstMessage = (result: { success: boolean; error?: { issues: { message: string }[] } }) =>
  result.success ? undefined : result.error?.issues[0]?.message;

function portValue(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}

/** The problems of each field, in the shared schema's words; a certificate with blocking problems is one. */
export function checkRemoteAccessForm(
  form: RemoteAccessForm,
  certificates: readonly Pick<CertificateInfo, 'thumbprint' | 'problems'>[] | null,
): RemoteAccessProblems {
  if (form.mode === 'disabled') return {};
  const problems: RemoteAccessProblems = {};
  const port = form.port.trim();
  problems.port =
    port !== '' && !/^\d+$/.test(port)
      ? (firstMessage(RemoteAccessPortSchema.safeParse(0.5)) ?? 'The port is a whole number.')
      : firstMessage(RemoteAccessPortSchema.safeParse(portValue(port)));
  if (form.mode === 'tls') {
    const cert = certificates?.find((candidate) => candidate.thumbprint === form.thumbprint);
    if (!form.thumbprint || !cert)
      problems.certificate =
        'Choose a certificate from the store, or import or generate one. TLS needs a certificate with its private key.';
    else if (!isUsable(cert))
      problems.certificate =
        'This certificate does not meet the requirements below. Fix them, or choose, import or generate another one.';
  }
  for (const field of Object.keys(problems) as RemoteAccessField[])
    if (!problems[field]) delete problems[field];
  return problems;
}

/** What is sent to the host, or null when the form has problems. */
export function settingsFromForm(form: RemoteAccessForm): RemoteAccessSettings | null {
  const candidate =
    form.mode === 'disabled'
      ? { mode: 'disabled' }
      : form.mode === 'plain'
        ? { mode: 'plain', port: portValue(form.port) }
        : { mode: 'tls', port: portValue(form.port), thumbprint: form.thumbprint };
  const parsed = RemoteAccessSettingsSchema.safeParse(candidate);
  return parsed.success ? parsed.data : null;
}
