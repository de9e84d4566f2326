import type { Database } from 'better-sqlite3';

/** The most linked IRs a shared IR takes unless its owner sets another limit (the reference product's). */
export const DEFAULT_MAX_LINKS = 100;
/** The highest limit an owner may set. */
export const MAX_LINKS_CEILING = 10_000;

export interface ShareRow {
  irId: string;
  factoryId: string;
  createdAtMs: number;
}

export interface LinkRow {
  /** The linked IR (a row of the linking factory's). */
  irId: string;
  sharedIrId: string;
  createdAtMs: number;
}

interface RawShare {
  ir_id: string;
  factory_id: string;
  created_at: number;
}
interface RawLink {
  ir_id: string;
  shared_ir_id: string;
  created_at: number;
}

const toShare = (r: RawShare): ShareRow => ({
  irId: r.ir_id,
  factoryId: r.factory_id,
  createdAtMs: r.created_at,
});
const toLink = (r: RawLink): LinkRow => ({
  irId: r.ir_id,
  sharedIrId: r.shared_ir_id,
  createdAtMs: r.created_at,
});

/** Grants of an IR to other factories, and the linked IRs made from them (migration 11). */
export class ShareStore {
  constructor(private readonly db: Database) {}

  grant(irId: string, factoryId: string, nowMs: number): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO ir_shares (ir_id, factory_id, created_at) VALUES (?, ?, ?)')
        .run(irId, factoryId, nowMs).changes > 0
    );
  }

  revoke(irId: string, factoryId: string): boolean {
    return (
      this.db.prepare('DELETE FROM ir_shares WHERE ir_id = ? AND factory_id = ?').run(irId, factoryId)
        .changes > 0
    );
  }

  isGranted(irId: string, factoryId: string): boolean {
    return (
      this.db
        .prepare<[string, string], { one: number }>(
          'SELECT 1 AS one FROM ir_shares WHERE ir_id = ? AND factory_id = ?',
        )
        .get(irId, factoryId) !== undefined
    );
  }

  grantsOf(irId: string): ShareRow[] {
    return this.db
      .prepare<[string], RawShare>('SELECT * FROM ir_shares WHERE ir_id = ? ORDER BY created_at, factory_id')
      .all(irId)
      .map(toShare);
  }

  insertLink(link: LinkRow): void {
    this.db
      .prepare('INSERT INTO ir_links (ir_id, shared_ir_id, created_at) VALUES (?, ?, ?)')
      .run(link.irId, link.sharedIrId, link.createdAtMs);
  }

  /** The link of a linked IR, or null for an IR with its own nodes. */
  linkOf(irId: string): LinkRow | null {
    const row = this.db.prepare<[string], RawLink>('SELECT * FROM ir_links WHERE ir_id = ?').get(irId);
    return row ? toLink(row) : null;
  }

  linksTo(sharedIrId: string): LinkRow[] {
    return this.db
      .prepare<[string], RawLink>('SELECT * FROM ir_links WHERE shared_ir_id = ? ORDER BY created_at, ir_id')
      .all(sharedIrId)
      .map(toLink);
  }

  countLinksTo(sharedIrId: string): number {
    return (
      this.db
        .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM ir_links WHERE shared_ir_id = ?')
        .get(sharedIrId)?.n ?? 0
    );
  }

  maxLinks(irId: string): number {
    return (
      this.db.prepare<[string], { max_links: number }>('SELECT max_links FROM irs WHERE id = ?').get(irId)
        ?.max_links ?? DEFAULT_MAX_LINKS
    );
  }

  setMaxLinks(irId: string, maxLinks: number): void {
    this.db.prepare('UPDATE irs SET max_links = ? WHERE id = ?').run(maxLinks, irId);
  }

  /**
   * Fails the Queued jobs of linked IRs whose factory lost the grant: they would never run,
   * and their submitter should hear why now rather than find them waiting.
   */
  failQueuedOf(irIds: readonly string[], reason: string, nowMs: number): number {
    const fail = this.db.prepare(
      "UPDATE jobs SET state = 'Failed', reason = ?, reason_code = 'IR_NOT_SHARED', finished_at = ? WHERE ir_id = ? AND state = 'Queued'",
    );
    let failed = 0;
    for (const irId of irIds) failed += fail.run(reason, nowMs, irId).changes;
    return failed;
  }
}
