import {
  ProxyAddressSchema,
  ProxyInputSchema,
  ProxyPortSchema,
  ProxyUserSchema,
  type ProxyInput,
  type ProxyMode,
  type ProxyRoute,
  type ProxySettings,
  type ProxyView,
} from '../../../shared/proxy';

/** The reference product's words for the three settings. */
export const PROXY_MODE_LABEL: Record<ProxyMode, string> = {
  none: 'Do not use proxy',
  system: 'Use system proxy',
  custom: 'Use custom proxy',
};

export const SYSTEM_PROXY_HELP =
  "Uses the system's proxy settings (HTTPS_PROXY/HTTP_PROXY and NO_PROXY for the headless host; the OS settings, including PAC, in the desktop app).";

/** `host:port`, with brackets around an IPv6 address. */
export function proxyHostPort(settings: Extract<ProxySettings, { mode: 'custom' }>): string {
  const host = settings.address.includes(':') ? `[${settings.address}]` : settings.address;
  return `${host}:${settings.port}`;
}

/** One line for the Register page: the setting, and for a custom proxy where it is and who logs in. */
export function proxySummary(view: ProxyView): string {
  const { settings } = view;
  const label = PROXY_MODE_LABEL[settings.mode];
  if (settings.mode !== 'custom') return label;
  const parts = [proxyHostPort(settings)];
  if (settings.user) parts.push(`user ${settings.user}${view.hasPassword ? ', password set' : ''}`);
  return `${label} (${parts.join(', ')})`;
}

/** How traffic to the control plane goes now, in words. */
export function routeText(route: ProxyRoute): string {
  return route.kind === 'proxy' && route.proxy ? `Through ${route.proxy}` : 'Direct connection';
}

/** What the dialog edits. Text fields stay text until the form is checked. */
export interface ProxyForm {
  mode: ProxyMode;
  address: string;
  port: string;
  user: string;
  password: string;
  clearPassword: boolean;
}

export type ProxyField = 'address' | 'port' | 'user' | 'password';
export type ProxyProblems = Partial<Record<ProxyField, string>>;

export function formFromView(view: ProxyView | null): ProxyForm {
  const settings = view?.settings ?? { mode: 'none' };
  return settings.mode === 'custom'
    ? {
        mode: 'custom',
        address: settings.address,
        port: String(settings.port),
        user: settings.user ?? '',
        password: '',
        clearPassword: false,
      }
    : { mode: settings.mode, address: '', port: '', user: '', password: '', clearPassword: false };
}

const firstMessage = (result: { success: boolean; error?: { issues: { message: string }[] } }) =>
  result.success ? undefined : result.error?.issues[0]?.message;

// The shared schemas' own words, for the two cases checked here before the schema sees the value.
const WHOLE_NUMBER = firstMessage(ProxyPortSchema.safeParse(0.5)) ?? 'The port is a whole number.';
const WITHOUT_PORT =
  firstMessage(ProxyAddressSchema.safeParse('host name')) ??
  'Enter a host name or IP address, without a port.';

/** "host:port" and "1.2.3.4:8080": an address followed by a port (an IPv6 address has several colons). */
const ADDRESS_WITH_PORT = /^[^:\s]+:\d*$/;

function portValue(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}

/**
 * The problems of each field, in the shared schemas' words. Only a custom proxy has fields; a password
 * without a user name would never be sent, so it is flagged rather than silently dropped.
 */
export function checkProxyForm(form: ProxyForm): ProxyProblems {
  if (form.mode !== 'custom') return {};
  const problems: ProxyProblems = {};
  const address = form.address.trim();
  problems.address = ADDRESS_WITH_PORT.test(address)
    ? WITHOUT_PORT
    : firstMessage(ProxyAddressSchema.safeParse(address));
  const port = form.port.trim();
  problems.port =
    port !== '' && !/^\d+$/.test(port)
      ? WHOLE_NUMBER
      : firstMessage(ProxyPortSchema.safeParse(portValue(port)));
  problems.user = firstMessage(ProxyUserSchema.safeParse(form.user.trim()));
  if (form.password !== '' && form.user.trim() === '')
    problems.password = 'Enter the user name this password belongs to, or leave the password empty.';
  for (const field of Object.keys(problems) as ProxyField[]) if (!problems[field]) delete problems[field];
  return problems;
}

/**
 * What is sent to test or save. `password`: typed → set it; "Clear saved password" → null; left empty →
 * absent, so the saved one is kept. Without a user name no password is used, so a saved one is cleared.
 */
export function inputFromForm(form: ProxyForm, hasPassword: boolean): ProxyInput | null {
  if (form.mode !== 'custom') return { mode: form.mode };
  const user = form.user.trim();
  const port = portValue(form.port);
  const candidate: Record<string, unknown> = { mode: 'custom', address: form.address.trim(), port };
  if (user !== '') candidate.user = user;
  if (user === '') {
    if (hasPassword) candidate.password = null;
  } else if (form.clearPassword) candidate.password = null;
  else if (form.password !== '') candidate.password = form.password;
  const parsed = ProxyInputSchema.safeParse(candidate);
  return parsed.success ? parsed.data : null;
}
