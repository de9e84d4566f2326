import {
  OPERATIONS,
  httpPathFor,
  type OperationInput,
  type OperationName,
  type OperationOutput,
} from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import { errorFromResponse } from '../core/controlPlaneClient';
import { requestJson, type JsonResponse } from '../core/jsonRequest';
import { hostNotRunning } from '../core/localEndpoint';
import { invalidInput } from '../shared/invoke';

/** A typed client of the host contract over the local socket. */
export class HostClient {
  constructor(
    /** A path, or how to find it per request: on Windows the host records a new pipe name at each start. */
    private readonly endpoint: string | (() => string),
    private readonly timeoutMs = 60_000,
  ) {}

  async call<N extends OperationName>(name: N, input: OperationInput<N>): Promise<OperationOutput<N>> {
    const spec = OPERATIONS[name];
    const parsed = spec.input.safeParse(input);
    if (!parsed.success) throw invalidInput(parsed.error);
    const { status, body } = await this.post(httpPathFor(name), parsed.data);
    if (status !== 200) throw errorFromResponse(status, body);
    return spec.output.parse(body) as OperationOutput<N>;
  }

  /** True when a host answers on the socket. */
  async isRunning(): Promise<boolean> {
    try {
      await this.call('getStatus', {});
      return true;
    } catch (error) {
      if (error instanceof OpenIrError && error.code === 'HOST_NOT_RUNNING') return false;
      throw error;
    }
  }

  private async post(path: string, payload: unknown): Promise<JsonResponse> {
    let socketPath = '';
    try {
      socketPath = typeof this.endpoint === 'string' ? this.endpoint : this.endpoint();
      return await requestJson({ socketPath, path, timeout: this.timeoutMs }, payload, {
        onTimeout: () =>
          new OpenIrError('TIMEOUT', 'The OpenIR host did not answer in time.', {
            fix: 'See `openir logs` or the host log file.',
          }),
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new OpenIrError('UNAUTHORIZED', `You may not use the OpenIR host's socket ${socketPath}.`, {
          fix: "Run the command as the host's user or root. For the Linux service: sudo openir …, or join the openir group (sudo usermod -aG openir $USER, then log in again).",
        });
      }
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw hostNotRunning();
      }
      throw error;
    }
  }
}
