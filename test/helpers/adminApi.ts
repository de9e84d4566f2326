import { request } from 'node:https';

export interface AdminApiAnswer {
  status: number;
  /** The JSON answer, or {} when the answer is not JSON (see `text`). */
  body: Record<string, unknown>;
  text: string;
  contentType: string;
}

/**
 * One HTTPS call to the control plane with an optional bearer token, as an
 * orchestrator would make it (the test trusts the server as `curl -k` does).
 */
export function adminApi(
  endpoint: string,
  method: string,
  urlPath: string,
  token?: string,
  body?: unknown,
): Promise<AdminApiAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(urlPath, endpoint),
      {
        method,
        rejectUnauthorized: false,
        agent: false,
        timeout: 20_000,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const contentType = String(res.headers['content-type'] ?? '');
          const json = contentType.includes('application/json') && text !== '';
          resolve({
            status: res.statusCode ?? 0,
            body: json ? (JSON.parse(text) as Record<string, unknown>) : {},
            text,
            contentType,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
