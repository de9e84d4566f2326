import type { z } from 'zod';
import { OPERATIONS, type HostApi, type OperationName } from './contract';
import { OpenIrError } from './errors';

/**
 * Validates and runs one operation: the one path every binding (HTTP, IPC,
 * the CLI's local checks) takes, so input is checked by the same schema and
 * output validated before it leaves, whatever the transport.
 */
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

/** A schema failure as the `INVALID_INPUT` error every face shows: the first problem, with its field. */
export function invalidInput(error: z.ZodError): OpenIrError {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
  return new OpenIrError('INVALID_INPUT', `${where}${first?.message ?? 'invalid input'}`, {
    fix: 'Correct the value and try again.',
  });
}
