import type { ConnectionState, Transport } from '../transport';
import type { Slice } from './slice';

export interface ConnectionSlice {
  connection: ConnectionState;
  transportKind: Transport['kind'];
}

export const createConnectionSlice =
  (transport: Pick<Transport, 'kind' | 'connection'>): Slice<ConnectionSlice> =>
  () => ({ connection: transport.connection.state(), transportKind: transport.kind });
