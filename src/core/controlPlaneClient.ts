import https from 'node:https';
import type tls from 'node:tls';
import {
  CONTROL_PLANE_PATHS,
  RegisterResponseSchema,
  type RegisterRequest,
  type RegisterResponse,
} from '../shared/controlPlaneApi';
import { ErrorBodySchema, OpenIrError } from '../shared/errors';
import { connectionError, endpointTarget } from './pinnedTls';

const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The node's HTTPS calls to the control plane (the control channel is separate). */
export async function registerWithControlPlane(
  endpoint: string,
  tlsOptions: tls.ConnectionOptions,
  request: RegisterRequest,
  timeoutMs = 15_000,
): Promise<RegisterResponse> {
  const { status, body } = await postJson(
    endpoint,
    CONTROL_PLANE_PATHS.register,
    request,
    tlsOptions,
    timeoutMs,
  );
  if (status >= 200 && status < 300) {
    const parsed = RegisterResponseSchema.safeParse(body);
    if (parsed.success) return parsed.data;
    throw new OpenIrError(
      'CONTROL_PLANE_ERROR',
      'The control plane sent a registration answer this node does not understand.',
      {
        fix: 'Check that the node and the control plane run compatible versions.',
      },
    );
  }
  throw errorFromResponse(status, body);
}

export function errorFromResponse(status: number, body: unknown): OpenIrError {
  const error = ErrorBodySchema.safeParse((body as { error?: unknown } | null)?.error);
  if (error.success) return OpenIrError.fromBody(error.data);
  return new OpenIrError('CONTROL_PLANE_ERROR', `The control plane answered HTTP ${status}.`, {
    fix: 'Check the control plane log.',
  });
}

function postJson(
  endpoint: string,
  path: string,
  payload: unknown,
  tlsOptions: tls.ConnectionOptions,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  const target = endpointTarget(endpoint);
  const data = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        ...tlsOptions,
        host: target.host,
        port: target.port,
        servername: target.servername,
        path,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (error) => reject(connectionError(endpoint, error)));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => reject(connectionError(endpoint, error)));
    req.end(data);
  });
}
