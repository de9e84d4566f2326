import type { Database } from 'better-sqlite3';
import { OpenIrError } from '../shared/errors';

export interface Migration {
  /** Strictly increasing; a shipped migration is never edited, only followed by a new one. */
  version: number;
  name: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema: settings, IRs, auth keys, nodes',
    up(db) {
      db.exec(`
        CREATE TABLE settings (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
        CREATE TABLE irs (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE COLLATE NOCASE,
          max_nodes INTEGER NOT NULL DEFAULT 4 CHECK (max_nodes >= 1),
          created_at INTEGER NOT NULL
        );
        CREATE TABLE auth_keys (
          id INTEGER PRIMARY KEY,
          ir_id TEXT NOT NULL REFERENCES irs(id) ON DELETE CASCADE,
          slot TEXT NOT NULL CHECK (slot IN ('key1', 'key2')),
          secret_hash TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          revoked_at INTEGER
        );
        CREATE UNIQUE INDEX auth_keys_one_current_per_slot ON auth_keys(ir_id, slot) WHERE revoked_at IS NULL;
        CREATE TABLE nodes (
          id TEXT PRIMARY KEY,
          ir_id TEXT NOT NULL REFERENCES irs(id) ON DELETE CASCADE,
          name TEXT NOT NULL COLLATE NOCASE,
          fqdn TEXT NOT NULL,
          version TEXT NOT NULL,
          platform TEXT NOT NULL,
          credential_hash TEXT NOT NULL,
          registered_at INTEGER NOT NULL,
          last_seen_at INTEGER,
          connected INTEGER NOT NULL DEFAULT 0,
          peers_reachable INTEGER NOT NULL DEFAULT 1,
          running_jobs INTEGER NOT NULL DEFAULT 0,
          job_limit INTEGER NOT NULL DEFAULT 0,
          UNIQUE (ir_id, name)
        );
        CREATE INDEX nodes_by_ir ON nodes(ir_id);
      `);
    },
  },
  {
    version: 2,
    name: 'nodes report their remote-access endpoint (peers and the HA rule need it)',
    up(db) {
      db.exec('ALTER TABLE nodes ADD COLUMN remote_access_url TEXT');
    },
  },
  {
    version: 3,
    name: 'job queue: copy jobs, their assignment, progress, result and staged upload',
    up(db) {
      // No foreign key to nodes: a job keeps its history when its node is removed.
      db.exec(`
        CREATE TABLE jobs (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          ir_id TEXT NOT NULL REFERENCES irs(id) ON DELETE CASCADE,
          source_credential TEXT NOT NULL,
          source_path TEXT NOT NULL,
          sink_type TEXT NOT NULL CHECK (sink_type IN ('staging', 'credential')),
          sink_credential TEXT,
          sink_path TEXT,
          format TEXT NOT NULL CHECK (format IN ('raw', 'csv', 'ndjson')),
          state TEXT NOT NULL CHECK (state IN ('Queued', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
          reason TEXT,
          reason_code TEXT,
          node_id TEXT,
          node_name TEXT,
          attempt INTEGER NOT NULL DEFAULT 0,
          cancel_requested INTEGER NOT NULL DEFAULT 0,
          bytes INTEGER NOT NULL DEFAULT 0,
          rows_copied INTEGER,
          rate REAL,
          sha256 TEXT,
          staged_bytes INTEGER,
          staged_sha256 TEXT,
          created_at INTEGER NOT NULL,
          dispatched_at INTEGER,
          started_at INTEGER,
          finished_at INTEGER
        );
        CREATE INDEX jobs_queue ON jobs(ir_id, state, seq);
        CREATE INDEX jobs_by_node ON jobs(node_id, state);
      `);
    },
  },
  {
    version: 4,
    name: 'nodes report their remote-access certificate and credential-sync key (HA peers pin them)',
    up(db) {
      db.exec('ALTER TABLE nodes ADD COLUMN remote_access_cert_sha256 TEXT');
      db.exec('ALTER TABLE nodes ADD COLUMN peer_key TEXT');
    },
  },
  {
    version: 5,
    name: "jobs keep the node's latest retry or resume note",
    up(db) {
      db.exec('ALTER TABLE jobs ADD COLUMN note TEXT');
    },
  },
  {
    version: 6,
    name: "jobs keep a table sink's load mode (append or truncate)",
    up(db) {
      db.exec("ALTER TABLE jobs ADD COLUMN sink_mode TEXT CHECK (sink_mode IN ('append', 'truncate'))");
    },
  },
  {
    version: 7,
    name: 'IRs may expire nodes Offline too long; removals by expiry or replacement are kept for `ir nodes`',
    up(db) {
      // NULL: off (the default), so existing IRs keep every node until an admin removes it.
      db.exec(
        'ALTER TABLE irs ADD COLUMN expire_offline_after_ms INTEGER CHECK (expire_offline_after_ms > 0)',
      );
      db.exec(`
        CREATE TABLE node_removals (
          id INTEGER PRIMARY KEY,
          ir_id TEXT NOT NULL REFERENCES irs(id) ON DELETE CASCADE,
          node_id TEXT NOT NULL,
          node_name TEXT NOT NULL,
          reason TEXT NOT NULL CHECK (reason IN ('expired', 'replaced')),
          last_seen_at INTEGER,
          removed_at INTEGER NOT NULL
        );
        CREATE INDEX node_removals_by_ir ON node_removals(ir_id, removed_at);
      `);
    },
  },
  {
    version: 8,
    name: 'joining needs approval (per-IR policy, pending nodes, pinned sync keys); expiring and single-use auth keys',
    up(db) {
      // Existing IRs get the new default too: a node joining after the upgrade waits for `ir approve`.
      db.exec(
        "ALTER TABLE irs ADD COLUMN join_approval TEXT NOT NULL DEFAULT 'required' CHECK (join_approval IN ('required', 'auto'))",
      );
      // Nodes registered before the upgrade were let in by the old rules: they stay approved,
      // with the sync key they report now as their pin.
      db.exec(
        "ALTER TABLE nodes ADD COLUMN approval TEXT NOT NULL DEFAULT 'approved' CHECK (approval IN ('pending', 'approved'))",
      );
      db.exec('ALTER TABLE nodes ADD COLUMN approved_peer_key TEXT');
      db.exec('UPDATE nodes SET approved_peer_key = peer_key');
      db.exec('ALTER TABLE auth_keys ADD COLUMN expires_at INTEGER');
      db.exec('ALTER TABLE auth_keys ADD COLUMN single_use INTEGER NOT NULL DEFAULT 0');
      db.exec('ALTER TABLE auth_keys ADD COLUMN used_at INTEGER');
    },
  },
  {
    version: 9,
    name: 'version policy (latest, minimum, expiry dates); nodes report their version and drain',
    up(db) {
      // One row or none: no row means no policy (every version accepted, no update offered).
      db.exec(`
        CREATE TABLE version_policy (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          latest TEXT NOT NULL,
          minimum TEXT,
          updated_at INTEGER NOT NULL
        );
        CREATE TABLE version_expiries (
          version TEXT PRIMARY KEY,
          expires_on TEXT NOT NULL
        );
      `);
      // draining: what the node last reported; drain_requested: `ir drain` asked, until the node says it drains.
      db.exec('ALTER TABLE nodes ADD COLUMN draining INTEGER NOT NULL DEFAULT 0');
      db.exec('ALTER TABLE nodes ADD COLUMN drain_requested INTEGER NOT NULL DEFAULT 0');
    },
  },
  {
    version: 10,
    name: 'data factories (tenants) owning IRs, and hashed API tokens for the admin REST API',
    up(db) {
      db.exec(`
        CREATE TABLE factories (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE COLLATE NOCASE,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE api_tokens (
          id TEXT PRIMARY KEY,
          -- NULL: the instance-admin token, which acts on every factory.
          factory_id TEXT REFERENCES factories(id) ON DELETE CASCADE,
          secret_hash TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          revoked_at INTEGER
        );
        CREATE INDEX api_tokens_by_factory ON api_tokens(factory_id);
      `);
      // Every IR belongs to one factory; those made before factories go into 'default'.
      db.exec('ALTER TABLE irs ADD COLUMN factory_id TEXT REFERENCES factories(id)');
      const now = Date.now();
      db.prepare("INSERT INTO factories (id, name, created_at) VALUES ('default', 'default', ?)").run(now);
      db.exec("UPDATE irs SET factory_id = 'default'");
    },
  },
  {
    version: 11,
    name: 'IR sharing: grants to other factories, linked IRs, and a per-IR limit on links',
    up(db) {
      db.exec(`
        CREATE TABLE ir_shares (
          ir_id TEXT NOT NULL REFERENCES irs(id) ON DELETE CASCADE,
          factory_id TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (ir_id, factory_id)
        );
        -- A linked IR is an IR row of the linking factory (no keys, no nodes) plus this row.
        -- No foreign key to the shared IR: if it is deleted the link stays, and says so.
        CREATE TABLE ir_links (
          ir_id TEXT PRIMARY KEY REFERENCES irs(id) ON DELETE CASCADE,
          shared_ir_id TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX ir_links_by_shared ON ir_links(shared_ir_id);
      `);
      db.exec('ALTER TABLE irs ADD COLUMN max_links INTEGER NOT NULL DEFAULT 100');
    },
  },
  {
    version: 12,
    name: "monitoring: each node's per-minute metrics, pruned to 24 h",
    up(db) {
      // One row per node and minute (the JSON of a MetricsPoint); the server writes
      // a minute once it ends and deletes rows older than 24 h.
      db.exec(`
        CREATE TABLE node_metrics (
          node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
          ir_id TEXT NOT NULL,
          minute INTEGER NOT NULL,
          point TEXT NOT NULL,
          PRIMARY KEY (node_id, minute)
        );
        CREATE INDEX node_metrics_by_minute ON node_metrics(minute);
      `);
    },
  },
];

export function currentSchemaVersion(db: Database): number {
  const row = db
    .prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations')
    .get();
  return row?.version ?? 0;
}

/**
 * Applies the migrations not yet recorded, in order, in one IMMEDIATE
 * transaction: the server and an admin command may open the same database at
 * once, and the write lock makes the second one see the first one's work
 * instead of applying it twice.
 */
export function migrate(db: Database, migrations: readonly Migration[], nowMs: number): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const run = db.transaction((): number[] => {
    const applied = new Set(
      db
        .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
        .all()
        .map((row) => row.version),
    );
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      throw new OpenIrError(
        'INTERNAL',
        `The control plane database has schema version ${newest}, newer than this control plane understands (${known}).`,
        {
          fix: 'Run the newer openir-control-plane that created this database, or use another --data folder.',
        },
      );
    }
    const insert = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const done: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      migration.up(db);
      insert.run(migration.version, migration.name, nowMs);
      done.push(migration.version);
    }
    return done;
  });
  return run.immediate();
}
