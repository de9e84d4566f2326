import type { OpenIrApi } from '../../src/shared/api';
import { eventMethodName } from '../../src/shared/api';
import type { EventName, EventPayload, OperationName } from '../../src/shared/contract';
import { EVENT_NAME_LIST, OPERATION_NAME_LIST } from '../../src/shared/contractNames';
import type { ConnectionState, Transport } from '../../src/renderer/transport';

interface Call {
  name: OperationName;
  input: unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A host the store can be connected to without a network: every operation of the contract waits until the
 * test answers it (so answers can be made to arrive in any order), and the test pushes events and
 * connection changes. Built from the contract's name lists, as the real transports are.
 */
export class FakeHost {
  readonly calls: Call[] = [];
  private readonly listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  private readonly connectionListeners = new Set<(state: ConnectionState, resumed: boolean) => void>();
  private state: ConnectionState = 'connected';
  readonly api: OpenIrApi;
  readonly transport: Transport;

  constructor() {
    const api: Record<string, unknown> = {};
    for (const name of OPERATION_NAME_LIST)
      api[name] = (input: unknown) =>
        new Promise((resolve, reject) => this.calls.push({ name, input, resolve, reject }));
    for (const event of EVENT_NAME_LIST)
      api[eventMethodName(event)] = (listener: (payload: unknown) => void) => {
        let set = this.listeners.get(event);
        if (!set) this.listeners.set(event, (set = new Set()));
        set.add(listener);
        return () => set.delete(listener);
      };
    this.api = api as OpenIrApi;
    this.transport = {
      kind: 'web',
      api: this.api,
      connection: {
        state: () => this.state,
        subscribe: (listener) => {
          this.connectionListeners.add(listener);
          return () => this.connectionListeners.delete(listener);
        },
      },
    };
  }

  /** The calls of one operation not answered yet, oldest first. */
  pending(name: OperationName): Call[] {
    return this.calls.filter((call) => call.name === name);
  }

  private take(name: OperationName, which: 'oldest' | 'newest'): Call {
    const pending = this.pending(name);
    const call = which === 'oldest' ? pending[0] : pending[pending.length - 1];
    if (!call) throw new Error(`no pending ${name} call`);
    this.calls.splice(this.calls.indexOf(call), 1);
    return call;
  }

  /** Answers a pending call (the oldest unless told) and lets the store apply it. */
  async answer(name: OperationName, value: unknown, which: 'oldest' | 'newest' = 'oldest'): Promise<void> {
    this.take(name, which).resolve(value);
    await settle();
  }

  async fail(
    name: OperationName,
    error: { code: string; message: string; fix?: string },
    which: 'oldest' | 'newest' = 'oldest',
  ): Promise<void> {
    this.take(name, which).reject(Object.assign(new Error(error.message), error));
    await settle();
  }

  /** Answers every pending call of these operations. */
  async answerAll(answers: Partial<Record<OperationName, unknown>>): Promise<void> {
    for (const [name, value] of Object.entries(answers))
      for (const call of this.pending(name as OperationName)) {
        this.calls.splice(this.calls.indexOf(call), 1);
        call.resolve(value);
      }
    await settle();
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) listener(payload);
  }

  listenerCount(event: EventName): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  setConnection(state: ConnectionState, resumed = false): void {
    this.state = state;
    for (const listener of [...this.connectionListeners]) listener(state, resumed);
  }
}

/** Lets resolved answers run through the store's awaits. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}
