import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  OPERATIONS,
  httpPathFor,
  OPERATION_NAMES,
  type HostApi,
  type OperationName,
} from '../shared/contract';
import { httpStatusFor, OpenIrError, toErrorBody } from '../shared/errors';
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

/** Validates and runs one operation; shared by every binding (HTTP, IPC). */
export async function invokeOperation(
  api: HostApi,
  name: OperationName,
  rawInput: unknown,
): Promise<unknown> {
  const spec = OPERATIONS[name];
  const parsed = spec.input.safeParse(rawInput);
  if (!parsed.success) throw invalidInput(parsed.error);
  const run = api[name] as (input: unknown) => Promise<unknown>;
  const output = await run.call(api, parsed.data);
  return spec.output.parse(output);
}

export function invalidInput(error: z.ZodError): OpenIrError {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
  return new OpenIrError('INVALID_INPUT', `${where}${first?.message ?? 'invalid input'}`, {
    fix: 'Correct the value and try again.',
  });
}
