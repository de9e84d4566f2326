import type { Database } from 'better-sqlite3';

export interface FactoryRow {
  id: string;
  name: string;
  createdAtMs: number;
}

export interface ApiTokenRow {
  id: string;
  /** null: the instance-admin token, which acts on every factory. */
  factoryId: string | null;
  secretHash: string;
  createdAtMs: number;
  revokedAtMs: number | null;
}

interface RawFactory {
  id: string;
  name: string;
  created_at: number;
}
interface RawToken {
  id: string;
  factory_id: string | null;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

const toFactory = (r: RawFactory): FactoryRow => ({ id: r.id, name: r.name, createdAtMs: r.created_at });
const toToken = (r: RawToken): ApiTokenRow => ({
  id: r.id,
  factoryId: r.factory_id,
  secretHash: r.secret_hash,
  createdAtMs: r.created_at,
  revokedAtMs: r.revoked_at,
});

/** Data factories (tenants) and their API tokens, in the control plane's database. */
export class FactoryStore {
  constructor(private readonly db: Database) {}

  insertFactory(factory: FactoryRow): void {
    this.db
      .prepare('INSERT INTO factories (id, name, created_at) VALUES (?, ?, ?)')
      .run(factory.id, factory.name, factory.createdAtMs);
  }

  /** Names compare case-insensitively, as IR names do. */
  findByName(name: string): FactoryRow | null {
    const row = this.db.prepare<[string], RawFactory>('SELECT * FROM factories WHERE name = ?').get(name);
    return row ? toFactory(row) : null;
  }

  findById(id: string): FactoryRow | null {
    const row = this.db.prepare<[string], RawFactory>('SELECT * FROM factories WHERE id = ?').get(id);
    return row ? toFactory(row) : null;
  }

  list(): FactoryRow[] {
    return this.db.prepare<[], RawFactory>('SELECT * FROM factories ORDER BY name').all().map(toFactory);
  }

  irCount(factoryId: string): number {
    return (
      this.db
        .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM irs WHERE factory_id = ?')
        .get(factoryId)?.n ?? 0
    );
  }

  insertToken(token: Omit<ApiTokenRow, 'revokedAtMs'>): void {
    this.db
      .prepare('INSERT INTO api_tokens (id, factory_id, secret_hash, created_at) VALUES (?, ?, ?, ?)')
      .run(token.id, token.factoryId, token.secretHash, token.createdAtMs);
  }

  findToken(id: string): ApiTokenRow | null {
    const row = this.db.prepare<[string], RawToken>('SELECT * FROM api_tokens WHERE id = ?').get(id);
    return row ? toToken(row) : null;
  }

  /** A factory's tokens, or with null the instance-admin ones; newest first. */
  tokensOf(factoryId: string | null): ApiTokenRow[] {
    const sql =
      factoryId === null
        ? 'SELECT * FROM api_tokens WHERE factory_id IS NULL ORDER BY created_at DESC, id'
        : 'SELECT * FROM api_tokens WHERE factory_id = ? ORDER BY created_at DESC, id';
    const statement = this.db.prepare<unknown[], RawToken>(sql);
    return (factoryId === null ? statement.all() : statement.all(factoryId)).map(toToken);
  }

  revokeToken(id: string, nowMs: number): void {
    this.db
      .prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(nowMs, id);
  }
}
