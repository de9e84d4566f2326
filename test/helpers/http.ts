import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Plain HTTP with full control of headers (fetch forbids setting Host). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers },
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}

/**
 * POSTs raw bytes to one operation of a host's local API (the contract over
 * HTTP on its Unix socket), so tests can send bodies the typed client refuses
 * to build: wrong types, unknown fields, broken JSON.
 */
export function socketCall(
  socketPath: string,
  operation: string,
  body: string | Buffer,
  timeoutMs = 60_000,
): Promise<{ status: number; json: unknown; body: string }> {
  const bytes = Buffer.from(body);
  const large = bytes.length > 64 * 1024;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: `/api/v1/ops/${operation}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, json, body: text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A server that refuses a body by its length answers and closes before reading it:
      // the write fails, and the answer still arrives.
      if (large && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) {
        setTimeout(() => reject(error), 5_000).unref();
        return;
      }
      reject(error);
    });
    req.on('timeout', () => req.destroy(new Error(`${operation} timed out`)));
    if (!large) {
      req.end(bytes);
      return;
    }
    // A large body: send the headers first and give the server a moment to refuse it by its
    // length, as it does, before writing bytes it will not read.
    req.setHeader('content-length', bytes.length);
    req.flushHeaders();
    let answered = false;
    req.once('response', () => (answered = true));
    setTimeout(() => {
      if (!answered) req.end(bytes);
    }, 500);
  });
}
