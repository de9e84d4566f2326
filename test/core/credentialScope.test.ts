import { afterAll, describe, expect, it } from 'vitest';
import { CredentialService } from '../../src/core/credentialService';
import { checkCredentialScope, type JobScope } from '../../src/core/jobs/credentialScope';
import { invalidRecord, split, toView } from '../../src/core/jobs/credentialRecords';
import { PeerKey } from '../../src/core/peerSeal';
import { CredentialInputSchema } from '../../src/shared/credentials';
import { OpenIrError } from '../../src/shared/errors';
import { coreParts } from '../helpers/coreParts';
import { cleanupTempDirs } from '../helpers/tmp';

afterAll(() => cleanupTempDirs());

function service() {
  const parts = coreParts('openir-credscope-');
  return new CredentialService({
    ...parts,
    dataDir: parts.home,
    clock: () => new Date('2026-05-01T10:00:00.000Z'),
    syncLog: parts.logger.child('peer-sync'),
    syncIntervalMs: 60_000,
    self: () => null,
    peerKey: () => PeerKey.load(parts.vault),
    nodes: () => [],
    reachabilityChanged: () => undefined,
    push: () => undefined,
  });
}

const job = (over: Partial<JobScope>): JobScope => ({
  source: { credential: 'files', path: 'in.csv' },
  sink: { type: 'staging' },
  factory: 'factory-b',
  ownerFactory: 'factory-a',
  ...over,
});

async function codeOf(work: Promise<unknown>): Promise<string | null> {
  try {
    await work;
    return null;
  } catch (error) {
    return error instanceof OpenIrError ? error.code : 'not an OpenIrError';
  }
}

describe('credential scoping for linked factories', () => {
  it('stores allowFactories as a non-secret field, deduplicated, and shows it in the view', async () => {
    const credentials = service();
    const view = await credentials.set({
      name: 'files',
      type: 'localFolder',
      root: '/srv/data',
      allowFactories: ['factory-b', 'Factory-B', 'factory-c'],
    });
    expect(view.allowFactories).toEqual(['factory-b', 'factory-c']);
    expect(await credentials.allowedFactories('files')).toEqual(['factory-b', 'factory-c']);
    expect(await credentials.allowedFactories('nope')).toBeNull();
    // Re-set without the list: owner only again (set replaces the credential's fields).
    const plain = await credentials.set({ name: 'files', type: 'localFolder', root: '/srv/data' });
    expect(plain.allowFactories).toEqual([]);
  });

  it("refuses a linked factory's job naming a credential that does not list it, source or sink, before anything opens", async () => {
    const scopes: Record<string, string[] | null> = { files: ['factory-b'], private: [], gone: null };
    const asked: string[] = [];
    const lookup = async (name: string) => {
      asked.push(name);
      return scopes[name] ?? null;
    };
    expect(await codeOf(checkCredentialScope(job({}), lookup))).toBeNull();
    expect(await codeOf(checkCredentialScope(job({ factory: 'FACTORY-B' }), lookup))).toBeNull();
    expect(
      await codeOf(checkCredentialScope(job({ source: { credential: 'private', path: 'x' } }), lookup)),
    ).toBe('CREDENTIAL_NOT_SHARED');
    expect(
      await codeOf(
        checkCredentialScope(
          job({ sink: { type: 'credential', credential: 'private', path: 'out' } }),
          lookup,
        ),
      ),
    ).toBe('CREDENTIAL_NOT_SHARED');
    expect(await codeOf(checkCredentialScope(job({ factory: 'factory-c' }), lookup))).toBe(
      'CREDENTIAL_NOT_SHARED',
    );
    // A missing credential is left to the job's own CREDENTIAL_NOT_FOUND.
    expect(
      await codeOf(checkCredentialScope(job({ source: { credential: 'gone', path: 'x' } }), lookup)),
    ).toBeNull();
    expect(asked.length).toBeGreaterThan(0);
  });

  it("lets the owner's jobs and jobs from control planes that send no factory use every credential", async () => {
    const lookup = async () => [] as string[];
    expect(await codeOf(checkCredentialScope(job({ factory: 'factory-a' }), lookup))).toBeNull();
    expect(await codeOf(checkCredentialScope(job({ factory: 'Factory-A' }), lookup))).toBeNull();
    expect(
      await codeOf(checkCredentialScope(job({ factory: undefined, ownerFactory: undefined }), lookup)),
    ).toBeNull();
  });

  it('names the credential, the factories and the fix in the refusal', async () => {
    const error = await checkCredentialScope(
      job({ source: { credential: 'private', path: 'x' } }),
      async () => [],
    ).catch((e: unknown) => e as OpenIrError);
    expect(error?.message).toMatch(/"private".*'factory-b'.*'factory-a'/);
    expect(error?.fix).toMatch(/--allow-factory factory-b/);
  });

  it('checks a synced record’s allowFactories by the same rules as set()', () => {
    const good = split(
      { name: 'files', type: 'localFolder', root: '/srv', allowFactories: ['factory-b'] },
      {},
    );
    const record = {
      type: 'localFolder' as const,
      createdAt: 'x',
      updatedAt: 'x',
      hasSecret: false,
      fields: good.fields,
    };
    expect(invalidRecord('files', record)).toBeNull();
    expect(toView('files', { ...record, version: 1, origin: '' }).allowFactories).toEqual(['factory-b']);
    expect(
      invalidRecord('files', { ...record, fields: { ...good.fields, allowFactories: ['a b'] } }),
    ).toMatch(/factory name/);
    expect(
      CredentialInputSchema.safeParse({
        name: 'f',
        type: 'localFolder',
        root: '/srv',
        allowFactories: ['x/y'],
      }).success,
    ).toBe(false);
  });
});
