import type { FastifyError, FastifyInstance } from 'fastify';
import { httpPathFor, OPERATION_NAMES, type HostApi } from '../shared/contract';
import { httpStatusFor, OpenIrError, toErrorBody, type ErrorBody } from '../shared/errors';
import { invokeOperation } from '../shared/invoke';
import type { SourceLogger } from './logger';

/** The largest request body the bindings read; a backup or a PFX crosses as base64 well below it. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

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
  // A body Fastify refuses before any operation runs (not JSON, too large, a
  // __proto__ key, another content type) gets the same coded error as a bad
  // field, not Fastify's own shape, which no face knows how to show.
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: refusedBody(error) });
    }
    log.error(`${request.method} ${request.url.split('?')[0]} failed unexpectedly.`, { error });
    return reply.code(500).send({ error: toErrorBody(error) });
  });
}

function refusedBody(error: FastifyError): ErrorBody {
  const fix =
    'Send the input as one JSON object (Content-Type: application/json), as the contract describes.';
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OpenIrError(
        'INVALID_INPUT',
        `The request is larger than ${MAX_REQUEST_BYTES / 1024 / 1024} MiB; no operation takes that much.`,
        { fix: 'Send a smaller input: a certificate or backup file is a few KiB.' },
      ).toBody();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OpenIrError('INVALID_INPUT', 'The request is not JSON (wrong Content-Type).', {
        fix,
      }).toBody();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new OpenIrError('INVALID_INPUT', 'The request body is empty.', { fix }).toBody();
    default:
      return new OpenIrError('INVALID_INPUT', `The request body is not valid JSON: ${error.message}.`, {
        fix,
      }).toBody();
  }
}
