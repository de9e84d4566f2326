import type { FastifyInstance } from 'fastify';
import { httpPathFor, OPERATION_NAMES, type HostApi } from '../shared/contract';
import { httpStatusFor, toErrorBody } from '../shared/errors';
import { invokeOperation } from '../shared/invoke';
import type { SourceLogger } from './logger';

/**
 * Binds every contract operation as `POST /api/v1/ops/<name>`, generated from
 * the table: input validated with the operation's schema, output validated
 * before it leaves, errors as `{ error: { code, message, fix } }`.
 */
export function bindContractOverHttp(app: FastifyInstance, api: HostApi, log: SourceLogger): void {
  for (const name of OPERATION_NAMES) {
    app.post(httpPathFor(name), async (request, reply) => {
      try {
        const output = await invokeOperation(api, name, request.body ?? {});
        return reply.code(200).send(output);
      } catch (error) {
        const body = toErrorBody(error);
        if (body.code === 'INTERNAL') log.error(`Operation ${name} failed unexpectedly.`, { error });
        return reply.code(httpStatusFor(body.code)).send({ error: body });
      }
    });
  }
}
