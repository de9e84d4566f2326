import http from 'node:http';
import https from 'node:https';
import { parseJsonOrNull } from '../shared/json';

export interface JsonResponse {
  status: number;
  /** The parsed body, or null when it was empty or not JSON. */
  body: unknown;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;

/**
 * One JSON request over HTTP(S) or a local socket, with a size cap on the
 * answer. Rejects with the raw socket error (or `onTimeout()`) so each caller
 * can explain failures in its own terms.
 */
export function requestJson(
  options: https.RequestOptions,
  payload: unknown,
  {
    secure = false,
    maxBytes = DEFAULT_MAX_BYTES,
    onTimeout = () => Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }),
  }: {
    secure?: boolean;
    maxBytes?: number;
    onTimeout?: () => Error;
  } = {},
): Promise<JsonResponse> {
  const data = Buffer.from(JSON.stringify(payload));
  const send = secure ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        method: 'POST',
        ...options,
        headers: { 'content-type': 'application/json', 'content-length': data.length, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) req.destroy(new Error('response too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks)) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(onTimeout()));
    req.on('error', reject);
    req.end(data);
  });
}

/** A response body as JSON, or null when it is empty or not JSON. */
export function parseJson(bytes: Buffer): unknown {
  return parseJsonOrNull(bytes.toString('utf8'));
}
