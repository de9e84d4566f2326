import fs from 'node:fs/promises';
import path from 'node:path';
import type { CustomScheme } from 'electron';

/**
 * The renderer is served over a privileged `app://openir/` scheme, not
 * `file://` (Electron's security checklist, item 18): with the
 * `grantFileProtocolExtraPrivileges` fuse off, a packaged app may not even
 * load its module script from a file URL, and a file URL would let the page
 * reach any file the user can read. The handler serves the built renderer
 * folder and nothing else, with the same Content-Security-Policy as the page's
 * meta tag, as a header too.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'openir';
export const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/** For `protocol.registerSchemesAsPrivileged`, before the app is ready. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  // standard: origins and relative URLs work as on the web; secure: a secure context.
  privileges: { standard: true, secure: true, supportFetchAPI: true },
};

export const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/**
 * The file under `rendererDir` an app:// URL names, or null for anything
 * else: another host or scheme, an encoded `..` or separator, a NUL, a
 * folder, or a link that leads out of the folder.
 */
export async function resolveAppFile(rendererDir: string, url: string): Promise<string | null> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let relative: string;
  try {
    relative = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  // URL parsing already removed literal dot segments; what is left after decoding is a trick.
  if (/[\0\\]/u.test(relative) || relative.split('/').some((part) => part === '..' || part === '.'))
    return null;
  const root = await fs.realpath(rendererDir);
  const file = path.join(root, relative === '/' ? 'index.html' : relative);
  try {
    const real = await fs.realpath(file);
    if (!real.startsWith(root + path.sep)) return null;
    const stat = await fs.stat(real);
    return stat.isFile() ? real : null;
  } catch {
    return null;
  }
}

/** The `protocol.handle` handler: GET of a file in the folder, or 404 (405 for other methods). */
export function appRequestHandler(rendererDir: string): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405 });
    const file = await resolveAppFile(rendererDir, request.url);
    if (!file) return notFound();
    const body = request.method === 'HEAD' ? null : await fs.readFile(file);
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-security-policy': APP_CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      },
    });
  };
}
