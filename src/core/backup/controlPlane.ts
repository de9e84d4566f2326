import type tls from 'node:tls';
import { NODE_SELF_PATH } from '../../shared/backup';
import { channelAuthorization } from '../../shared/controlPlaneApi';
import type { Connector } from '../connector';
import { errorFromResponse } from '../controlPlaneClient';
import { requestJson } from '../jsonRequest';
import { connectionError, endpointTarget } from '../pinnedTls';

/** Asks the control plane to remove this node, authenticated as the node (its channel credential). */
export async function removeSelfFromControlPlane(
  endpoint: string,
  tlsOptions: tls.ConnectionOptions,
  connector: Connector,
  nodeId: string,
  credential: string,
  timeoutMs = 15_000,
): Promise<void> {
  const target = endpointTarget(endpoint);
  let answer;
  try {
    answer = await requestJson(
      {
        method: 'DELETE',
        host: target.host,
        port: target.port,
        path: NODE_SELF_PATH,
        timeout: timeoutMs,
        headers: { authorization: channelAuthorization(nodeId, credential) },
        createConnection: connector.createConnection(endpoint, tlsOptions),
      },
      {},
    );
  } catch (error) {
    throw connectionError(endpoint, error);
  }
  if (answer.status < 200 || answer.status >= 300) throw errorFromResponse(answer.status, answer.body);
}
