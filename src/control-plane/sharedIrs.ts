import type { ControlPlaneStore } from './store';

/*
 * What the dispatcher and the registry ask about sharing, from the store alone
 * (no admin session), so neither depends on the admin commands in sharing.ts.
 */

/** The IR whose nodes run an IR's jobs: the shared IR for a linked IR, else the IR itself. */
export function hostIrId(store: ControlPlaneStore, irId: string): string {
  return store.shares.linkOf(irId)?.sharedIrId ?? irId;
}

/** The IRs whose queued jobs a shared IR's nodes take: its own and those of linked IRs still granted. */
export function queueIrIds(store: ControlPlaneStore, hostId: string): string[] {
  const host = store.findIrById(hostId);
  if (!host) return [hostId];
  const linked = store.shares.linksTo(hostId).flatMap((link) => {
    const ir = store.findIrById(link.irId);
    return ir && store.shares.isGranted(hostId, ir.factoryId) ? [ir.id] : [];
  });
  return [hostId, ...linked];
}

/** The factory that submitted a job of `irId` and the factory owning the nodes that run it (names). */
export function jobFactories(
  store: ControlPlaneStore,
  irId: string,
): { factory: string; ownerFactory: string } {
  const ir = store.findIrById(irId);
  const host = store.findIrById(hostIrId(store, irId));
  const nameOf = (id: string | undefined) => (id ? (store.factories.findById(id)?.name ?? id) : '');
  return { factory: nameOf(ir?.factoryId), ownerFactory: nameOf(host?.factoryId) };
}

/** The factories an IR is shared with (names), for its nodes' Home. */
export function sharedWithNames(store: ControlPlaneStore, irId: string): string[] {
  return store.shares
    .grantsOf(irId)
    .map((grant) => store.factories.findById(grant.factoryId)?.name ?? grant.factoryId);
}
