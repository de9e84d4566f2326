import http from 'node:http';
import { channelAuthorization } from '../shared/controlPlaneApi';
import { diagnosticsUploadPath } from '../shared/diagnosticsBundle';
import { OpenIrError } from '../shared/errors';
import { parseJson } from './jsonRequest';
import type { Connector } from './connector';
import { errorFromResponse, NODE_CREDENTIAL } from './controlPlaneClient';
import type { Registration } from './config';
import { connectionError } from './endpoint';
import { pinnedTlsOptions } from './pinnedTls';
import type { SecretVault } from './vault';

const UPLOAD_TIMEOUT_MS = 120_000;
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Uploads a diagnostics bundle to the control plane as this node: one PUT
 * over a connection from the node's Connector (so through the proxy setting,
 * with the TLS pin of the registration, like the control channel and the
 * staging upload), authenticated with the node credential.
 */
export async function uploadDiagnostics(
  links: { registration: Registration | null; vault: SecretVault; connector: Connector },
  id: string,
  zip: Uint8Array,
): Promise<{ receivedAt: string; size: number }> {
  const reg = links.registration;
  const credential = reg ? await links.vault.get(NODE_CREDENTIAL) : null;
  if (!reg || !credential) {
    throw new OpenIrError(
      'NOT_REGISTERED',
      'This node is not registered, so it has no control plane to send to.',
      {
        fix: 'Save the bundle and hand it to support another way, or register the node first.',
      },
    );
  }
  const url = new URL(diagnosticsUploadPath(id), reg.endpoint);
  const { status, body } = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const request = http.request({
      host: url.hostname,
      port: url.port || 443,
      path: url.pathname,
      method: 'PUT',
      headers: {
        authorization: channelAuthorization(reg.nodeId, credential),
        'content-type': 'application/octet-stream',
        'content-length': String(zip.byteLength),
      },
      timeout: UPLOAD_TIMEOUT_MS,
      // No `agent`: with `agent: false` Node would ignore createConnection and dial directly.
      createConnection: links.connector.createConnection(
        reg.endpoint,
        pinnedTlsOptions(reg.controlPlaneCaPem, reg.pin),
      ),
    });
    request.once('timeout', () =>
      request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    request.once('error', (error) => reject(connectionError(reg.endpoint, error)));
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      response.once('error', (error) => reject(connectionError(reg.endpoint, error)));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, body: parseJson(Buffer.concat(chunks)) });
      });
    });
    request.end(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength));
  });
  if (status !== 200) throw errorFromResponse(status, body);
  const answer = body as { receivedAt?: unknown; size?: unknown } | null;
  if (typeof answer?.receivedAt !== 'string' || typeof answer.size !== 'number') {
    throw new OpenIrError(
      'CONTROL_PLANE_ERROR',
      'The control plane sent an answer this node does not understand.',
      {
        fix: 'Check that the node and the control plane run compatible versions.',
      },
    );
  }
  return { receivedAt: answer.receivedAt, size: answer.size };
}
