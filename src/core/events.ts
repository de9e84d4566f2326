import { EVENTS, type EventName, type EventPayload } from '../shared/contract';

export type EventListener<E extends EventName> = (payload: EventPayload<E>) => void;

/** The host's outgoing events, typed by the contract; every subscription returns its unsubscribe. */
export class HostEvents {
  private readonly listeners = new Map<EventName, Set<(payload: never) => void>>();

  on<E extends EventName>(event: E, listener: EventListener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  /** A function that pushes this one event: what a service is handed, instead of the whole event bus. */
  pusher<E extends EventName>(event: E): (payload: EventPayload<E>) => void {
    return (payload) => this.emit(event, payload);
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    // Validate outgoing payloads in development builds of the contract: a face never gets a malformed event.
    const checked = EVENTS[event].payload.parse(payload) as EventPayload<E>;
    for (const listener of this.listeners.get(event) ?? []) (listener as EventListener<E>)(checked);
  }
}
