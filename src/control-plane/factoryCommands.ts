import { OpenIrError } from '../shared/errors';
import type { AdminSession, CommandResult } from './admin';
import { ADMIN_TOKEN_FILE } from './factories';
import { table } from './format';

const CLI = 'openir-control-plane';

export function createFactory(session: AdminSession, name: string): CommandResult {
  const { factory, token } = session.factories.create(name);
  return {
    json: { id: factory.id, name: factory.name, tokenId: token.id, token: token.token },
    text: [
      `Created data factory '${factory.name}' (${factory.id}).`,
      `API token: ${token.token}`,
      "Keep it secret. It is shown only now; the control plane keeps only its hash. It sees this factory's integration runtimes and jobs only.",
      `Create its first IR: ${CLI} ir create <name> --factory ${factory.name}, or POST /api/v1/admin/irs with this token.`,
    ].join('\n'),
  };
}

export function listFactories(session: AdminSession): CommandResult {
  const factories = session.factories.list();
  return {
    json: { factories },
    text: table(
      ['NAME', 'IRS', 'TOKENS', 'ID', 'CREATED'],
      factories.map((f) => [f.name, String(f.irs), String(f.activeTokens), f.id, f.createdAt]),
    ),
  };
}

export interface TokenAction {
  rotate?: boolean;
  add?: boolean;
  revoke?: string;
}

/** Lists a factory's tokens; `--rotate` issues one and revokes the others, `--add` issues one more, `--revoke` ends one. */
export function factoryTokens(session: AdminSession, name: string, action: TokenAction): CommandResult {
  const registry = session.factories;
  const chosen = [action.rotate, action.add, action.revoke !== undefined].filter(Boolean).length;
  if (chosen > 1) {
    throw new OpenIrError('INVALID_INPUT', 'Give one of --rotate, --add and --revoke.', {
      fix: `E.g. ${CLI} factory tokens ${name} --rotate`,
    });
  }
  if (action.rotate || action.add) {
    const issued = registry.issueToken(name, action.rotate === true);
    return {
      json: issued,
      text: [
        `New API token of '${name}' (${issued.id}): ${issued.token}`,
        issued.revoked.length > 0
          ? `Revoked: ${issued.revoked.join(', ')} (they stop working now).`
          : 'Its other tokens keep working until you revoke them.',
        'It is shown only now; the control plane keeps only its hash.',
      ].join('\n'),
    };
  }
  if (action.revoke !== undefined) {
    const revoked = registry.revokeToken(name, action.revoke);
    return { json: revoked, text: `Revoked token ${revoked.id} of '${name}'; it stops working now.` };
  }
  const tokens = registry.tokens(name);
  return {
    json: { factory: name, tokens },
    text: [
      table(
        ['ID', 'CREATED', 'REVOKED'],
        tokens.map((t) => [t.id, t.createdAt, t.revokedAt ?? '-']),
      ),
      `Tokens are shown only when issued. The instance-admin token is in ${ADMIN_TOKEN_FILE} in the data directory.`,
    ].join('\n'),
  };
}
