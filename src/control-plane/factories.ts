import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { isValidIrName } from '../shared/authKey';
import { OpenIrError } from '../shared/errors';
import { writeFileAtomic } from './atomicFile';
import { isoTime, type Clock } from './clock';
import type { ApiTokenRow, FactoryRow, FactoryStore } from './factoryStore';
import { hashSecret, newSecret, secretMatchesHash } from './secrets';

/** The file, in the data directory, that holds the instance-admin token for the admin on this machine. */
export const ADMIN_TOKEN_FILE = 'admin-token';

/** `oirt_<12 hex id>.<43 base64url secret>`: the id finds the row, the secret is checked against its hash. */
const TOKEN_RE = /^oirt_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/** Who an API request acts as: a factory's token, or the instance admin (factoryId null) who sees every factory. */
export interface Principal {
  tokenId: string;
  factoryId: string | null;
}

export interface FactoryListEntry {
  id: string;
  name: string;
  irs: number;
  activeTokens: number;
  createdAt: string;
}

export interface TokenListEntry {
  id: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface IssuedToken {
  /** Shown once; the control plane keeps only its hash. */
  token: string;
  id: string;
  factory: string | null;
  revoked: string[];
}

const problems = {
  factoryNotFound: (name: string) =>
    new OpenIrError('FACTORY_NOT_FOUND', `No data factory named '${name}' exists on this control plane.`, {
      fix: 'List the factories with `openir-control-plane factory list`.',
    }),
  factoryExists: (name: string) =>
    new OpenIrError('FACTORY_EXISTS', `A data factory named '${name}' already exists.`, {
      fix: 'Choose another name, or give it a new token with `openir-control-plane factory tokens <name> --rotate`.',
    }),
  invalidName: (name: string) =>
    new OpenIrError('INVALID_INPUT', `'${name}' is not a valid data factory name.`, {
      fix: 'Use 1 to 80 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit.',
    }),
  tokenRefused: () =>
    new OpenIrError('UNAUTHORIZED', 'The API token is missing, malformed, revoked or unknown.', {
      fix: 'Send `Authorization: Bearer <token>` with a current token: the instance-admin token is in the admin-token file of the data directory; a factory token comes from `openir-control-plane factory create` or `factory tokens <name> --rotate`.',
    }),
};

/**
 * Data factories (tenants) and their API tokens. A token is a 256-bit
 * bearer secret: the database keeps its SHA-256 only, as for auth keys.
 */
export class FactoryRegistry {
  constructor(
    private readonly store: FactoryStore,
    private readonly clock: Clock,
    private readonly exclusive: <T>(work: () => T) => T,
  ) {}

  create(name: string): { factory: FactoryRow; token: IssuedToken } {
    if (!isValidIrName(name)) throw problems.invalidName(name);
    return this.exclusive(() => {
      if (this.store.findByName(name)) throw problems.factoryExists(name);
      const factory: FactoryRow = { id: randomUUID(), name, createdAtMs: this.clock.nowMs() };
      this.store.insertFactory(factory);
      return { factory, token: this.issue(factory, false) };
    });
  }

  list(): FactoryListEntry[] {
    return this.store.list().map((factory) => ({
      id: factory.id,
      name: factory.name,
      irs: this.store.irCount(factory.id),
      activeTokens: this.store.tokensOf(factory.id).filter((t) => t.revokedAtMs === null).length,
      createdAt: isoTime(factory.createdAtMs),
    }));
  }

  /**
   * The factory of that name; with `seenBy`, only if that principal may see it
   * (the instance admin sees all, a factory's token its own): another
   * factory's is "not found", as if it did not exist.
   */
  byName(name: string, seenBy?: Principal): FactoryRow {
    const factory = this.store.findByName(name);
    const hidden = factory && seenBy && seenBy.factoryId !== null && seenBy.factoryId !== factory.id;
    if (!factory || hidden) throw problems.factoryNotFound(name);
    return factory;
  }

  byId(id: string): FactoryRow | null {
    return this.store.findById(id);
  }

  tokens(name: string): TokenListEntry[] {
    return this.store.tokensOf(this.byName(name).id).map(tokenEntry);
  }

  /** A new token for the factory; with `revokeOthers` (rotation) every other token of it stops working now. */
  issueToken(name: string, revokeOthers: boolean): IssuedToken {
    return this.exclusive(() => this.issue(this.byName(name), revokeOthers));
  }

  revokeToken(name: string, tokenId: string): TokenListEntry {
    const factory = this.byName(name);
    return this.exclusive(() => {
      const token = this.store.findToken(tokenId);
      if (!token || token.factoryId !== factory.id) {
        throw new OpenIrError('NOT_FOUND', `Data factory '${name}' has no token ${tokenId}.`, {
          fix: `List its tokens with \`openir-control-plane factory tokens ${name}\`.`,
        });
      }
      this.store.revokeToken(token.id, this.clock.nowMs());
      return tokenEntry({ ...token, revokedAtMs: token.revokedAtMs ?? this.clock.nowMs() });
    });
  }

  /** The principal of an `Authorization: Bearer …` header, or UNAUTHORIZED. */
  authenticate(header: string | undefined): Principal {
    const match = /^Bearer ([^\s]+)$/.exec(header ?? '');
    const parsed = match?.[1] ? TOKEN_RE.exec(match[1]) : null;
    if (!parsed?.[1] || !parsed[2]) throw problems.tokenRefused();
    const row = this.store.findToken(parsed[1]);
    if (!row || row.revokedAtMs !== null || !secretMatchesHash(parsed[2], row.secretHash)) {
      throw problems.tokenRefused();
    }
    return { tokenId: row.id, factoryId: row.factoryId };
  }

  /**
   * The instance-admin token in `<dataDir>/admin-token` (0600), made on the
   * first start, so the admin on this machine needs no setup. A file that
   * no longer holds a current token (deleted, edited) is replaced and the old
   * instance-admin tokens revoked.
   */
  ensureInstanceAdminToken(dataDir: string): { file: string; created: boolean } {
    const file = path.join(dataDir, ADMIN_TOKEN_FILE);
    const current = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    try {
      if (current && this.authenticate(`Bearer ${current}`).factoryId === null)
        return { file, created: false };
    } catch {
      // Not a current instance-admin token: make a new one below.
    }
    const issued = this.exclusive(() => this.issue(null, true));
    writeFileAtomic(file, `${issued.token}\n`, 0o600);
    return { file, created: true };
  }

  private issue(factory: FactoryRow | null, revokeOthers: boolean): IssuedToken {
    const now = this.clock.nowMs();
    const revoked: string[] = [];
    if (revokeOthers) {
      for (const token of this.store.tokensOf(factory?.id ?? null)) {
        if (token.revokedAtMs !== null) continue;
        this.store.revokeToken(token.id, now);
        revoked.push(token.id);
      }
    }
    const id = randomBytes(6).toString('hex');
    const secret = newSecret();
    this.store.insertToken({
      id,
      factoryId: factory?.id ?? null,
      secretHash: hashSecret(secret),
      createdAtMs: now,
    });
    return { token: `oirt_${id}.${secret}`, id, factory: factory?.name ?? null, revoked };
  }
}

function tokenEntry(token: ApiTokenRow): TokenListEntry {
  return {
    id: token.id,
    createdAt: isoTime(token.createdAtMs),
    revokedAt: token.revokedAtMs === null ? null : isoTime(token.revokedAtMs),
  };
}
