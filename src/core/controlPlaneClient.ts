import type tls from 'node:tls';
import {
  type KeyCheckRequest,
  channelAuthorization,
  CONTROL_PLANE_PATHS,
  RegisterResponseSchema,
  type RegisterRequest,
  type RegisterResponse,
} from '../shared/controlPlaneApi';
import { OpenIrError, errorBodyOf } from '../shared/errors';
import { requestJson, type JsonResponse } from './jsonRequest';
import type { Connector } from './connector';
import { connectionError, endpointTarget } from './endpoint';

const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The vault entry of the node credential: the node's identity towards its control plane. */
export const NODE_CREDENTIAL = 'node-credential';

/** The node's HTTPS calls to the control plane (the control channel is separate). */
export async function registerWithControlPlane(
  endpoint: string,
  tlsOptions: tls.ConnectionOptions,
  connector: Connector,
  request: RegisterRequest,
  timeoutMs = 15_000,
): Promise<RegisterResponse> {
  const { status, body } = await callControlPlane(
    endpoint,
    { path: CONTROL_PLANE_PATHS.register, payload: request },
    tlsOptions,
    connector,
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

/**
 * Whether the control plane takes this auth key now (IR known, secret valid),
 * registering nothing. A control plane without the check (404) cannot say:
 * resolves false, and the caller decides.
 */
export async function checkAuthKey(
  endpoint: string,
  tlsOptions: tls.ConnectionOptions,
  connector: Connector,
  request: KeyCheckRequest,
  timeoutMs = 15_000,
): Promise<boolean> {
  const { status, body } = await callControlPlane(
    endpoint,
    { path: CONTROL_PLANE_PATHS.keyCheck, payload: request },
    tlsOptions,
    connector,
    timeoutMs,
  );
  if (status >= 200 && status < 300) return true;
  if (status === 404 && (body as { error?: { code?: string } } | null)?.error?.code === 'NOT_FOUND')
    return false;
  throw errorFromResponse(status, body);
}

export function errorFromResponse(status: number, body: unknown): OpenIrError {
  const error = errorBodyOf(body);
  if (error) return OpenIrError.fromBody(error);
  return new OpenIrError('CONTROL_PLANE_ERROR', `The control plane answered HTTP ${status}.`, {
    fix: 'Check the control plane log.',
  });
}

/** Asks the control plane to remove this node, authenticated as the node (its channel credential). */
export async function removeSelfFromControlPlane(
  endpoint: string,
  tlsOptions: tls.ConnectionOptions,
  connector: Connector,
  nodeId: string,
  credential: string,
  timeoutMs = 15_000,
): Promise<void> {
  const answer = await callControlPlane(
    endpoint,
    {
      method: 'DELETE',
      path: CONTROL_PLANE_PATHS.nodeSelf,
      payload: {},
      headers: { authorization: channelAuthorization(nodeId, credential) },
    },
    tlsOptions,
    connector,
    timeoutMs,
  );
  if (answer.status < 200 || answer.status >= 300) throw errorFromResponse(answer.status, answer.body);
}

async function callControlPlane(
  endpoint: string,
  call: { method?: string; path: string; payload: unknown; headers?: Record<string, string> },
  tlsOptions: tls.ConnectionOptions,
  connector: Connector,
  timeoutMs: number,
): Promise<JsonResponse> {
  const target = endpointTarget(endpoint);
  try {
    return await requestJson(
      {
        ...(call.method ? { method: call.method } : {}),
        host: target.host,
        port: target.port,
        path: call.path,
        timeout: timeoutMs,
        ...(call.headers ? { headers: call.headers } : {}),
        // No `agent` here: with `agent: false` Node ignores createConnection and dials directly.
        createConnection: connector.createConnection(endpoint, tlsOptions),
      },
      call.payload,
      { maxBytes: MAX_RESPONSE_BYTES },
    );
  } catch (error) {
    throw connectionError(endpoint, error);
  }
}
