import http from 'node:http';
import {
  OPERATIONS,
  httpPathFor,
  type OperationInput,
  type OperationName,
  type OperationOutput,
} from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import { errorFromResponse } from '../core/controlPlaneClient';
import { invalidInput } from '../core/httpBinding';

/** A typed client of the host contract over the local socket. */
export class HostClient {
  constructor(
    private readonly socketPath: string,
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

  private post(path: string, payload: unknown): Promise<{ status: number; body: unknown }> {
    const data = Buffer.from(JSON.stringify(payload));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': data.length },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            let body: unknown = null;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = null;
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new OpenIrError('TIMEOUT', 'The OpenIR host did not answer in time.', {
            fix: 'Check `openir logs`.',
          }),
        ),
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof OpenIrError) return reject(error);
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
          return reject(
            new OpenIrError('HOST_NOT_RUNNING', 'The OpenIR host is not running for this data directory.', {
              fix: 'Start it with `openir start` (background) or `openir serve` (foreground).',
            }),
          );
        }
        reject(error);
      });
      req.end(data);
    });
  }
}
