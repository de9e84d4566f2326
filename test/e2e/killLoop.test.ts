import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeConfigSchema } from '../../src/core/config';
import { FileVault } from '../../src/core/vault';
import { socketCall } from '../helpers/http';
import { makeNode, stopAllNodes, type TestNode } from '../helpers/node';
import { cleanupTempDirs, filesUnder, tempDir } from '../helpers/tmp';

/**
 * Fault injection: the real host process (`openir serve`, encrypted-file vault
 * so every secret write is a file write the test can look at) is killed with
 * SIGKILL at a random moment while it writes, 100 times. The writes go over its
 * local API one after the other, so the test knows which one was acknowledged
 * last and which one was in flight when the kill came. After every kill the
 * host must start again on the same data directory, every file must parse,
 * and the last acknowledged write must be there (the in-flight one may or may
 * not have landed: both are correct, anything else is not).
 */

const KILLS = 100;
/**
 * Each round kills after a random delay up to this. Most writes take 5–300 ms
 * here; a restore derives its key with scrypt and reloads the host (1–3 s on
 * two busy cores), so its rounds wait longer or none would be acknowledged.
 */
const MAX_DELAY_MS: Record<string, number> = { backup: 4000, default: 700 };
const BACKUP_PASSWORD = 'kill loop backup password';

type Kind = 'config' | 'credential' | 'vault' | 'certificate' | 'backup';
const KINDS: Kind[] = ['config', 'credential', 'vault', 'certificate', 'backup'];

interface Write {
  op: string;
  input: Record<string, unknown>;
  /** What the write leaves behind, for the check after the restart. */
  mark: number | string;
}

interface Round {
  kind: Kind;
  acked: Write[];
  inFlight: Write | null;
}

describe('kill -9 during writes', () => {
  const node: TestNode = makeNode({ OPENIR_VAULT: 'file' }, 'killnode');
  const socket = path.join(node.home, 'run', 'host.sock');
  const folder = tempDir('openir-kill-folder-');

  afterAll(async () => {
    await stopAllNodes();
    cleanupTempDirs();
  });

  const call = async (op: string, input: unknown) => {
    const res = await socketCall(socket, op, JSON.stringify(input));
    if (res.status !== 200) throw new Error(`${op}: ${res.status} ${res.body}`);
    return res.json as Record<string, unknown>;
  };

  // Every kind of write, each leaving a mark the check can find after the restart.
  let counter = 0;
  const backups: { content: string; limit: number }[] = [];
  const nextWrite = (kind: Kind): Write => {
    counter += 1;
    switch (kind) {
      case 'config':
        // 1..200 so two consecutive values always differ; config.json is the only file it touches.
        return {
          op: 'setConcurrentJobsLimit',
          input: { limit: (counter % 200) + 1 },
          mark: (counter % 200) + 1,
        };
      case 'credential':
        return {
          op: 'setCredential',
          input: { name: `folder-${counter}`, type: 'localFolder', root: folder },
          mark: `folder-${counter}`,
        };
      case 'vault':
        // One credential whose secret changes every time: the vault entry is rewritten in place.
        return {
          op: 'setCredential',
          input: {
            name: 'api',
            type: 'http',
            baseUrl: 'https://api.example/',
            bearerToken: `token-${counter}`,
          },
          mark: `token-${counter}`,
        };
      case 'certificate':
        return { op: 'createSelfSignedCertificate', input: { key: 'p256', days: 30 }, mark: '' };
      case 'backup': {
        const backup = backups[counter % backups.length]!;
        return {
          op: 'restoreBackup',
          input: { content: backup.content, password: BACKUP_PASSWORD, replace: true },
          mark: backup.limit,
        };
      }
    }
  };

  /** Writes of one kind, back to back, until the host dies under them. */
  const writeUntilKilled = async (round: Round, stop: { dead: boolean }) => {
    while (!stop.dead) {
      const write = nextWrite(round.kind);
      round.inFlight = write;
      try {
        const out = await call(write.op, write.input);
        if (stop.dead) return; // answered, but the test cannot tell whether before or after the kill
        if (write.op === 'createSelfSignedCertificate') write.mark = String(out.thumbprint);
        round.acked.push(write);
        round.inFlight = null;
      } catch (error) {
        if (stop.dead) return;
        throw error;
      }
    }
  };

  /** Every JSON file of the data directory parses, and config.json is a config this version reads. */
  const checkFiles = () => {
    NodeConfigSchema.parse(JSON.parse(fs.readFileSync(path.join(node.home, 'config.json'), 'utf8')));
    for (const file of filesUnder(node.home).filter((f) => f.endsWith('.json'))) {
      expect(() => JSON.parse(fs.readFileSync(file, 'utf8')), file).not.toThrow();
    }
  };

  const checkRound = async (round: Round, certificates: Set<string>, credentials: Set<string>) => {
    const last = round.acked.at(-1) ?? null;
    const allowed = (value: unknown) =>
      [last?.mark, round.inFlight?.mark].filter((m) => m !== undefined && m !== '').includes(value as never);
    switch (round.kind) {
      case 'config':
      case 'backup': {
        if (!last) return;
        const settings = await call('getJobSettings', {});
        const configured = (settings.concurrentJobsLimit as { configured: number | null }).configured;
        expect(
          allowed(configured),
          `limit ${configured}; acked ${last.mark}, in flight ${round.inFlight?.mark}; acked ${round.acked.length}; config.json ${fs.readFileSync(path.join(node.home, 'config.json'), 'utf8')}\n${node.output().slice(-3000)}`,
        ).toBe(true);
        return;
      }
      case 'credential': {
        for (const w of round.acked) credentials.add(String(w.mark));
        const listed = (await call('listCredentials', {})).credentials as { name: string }[];
        const names = new Set(listed.map((c) => c.name));
        for (const name of credentials) expect(names.has(name), `credential ${name} lost`).toBe(true);
        return;
      }
      case 'vault': {
        if (!last) return;
        const listed = (await call('listCredentials', {})).credentials as {
          name: string;
          hasBearerToken?: boolean;
        }[];
        expect(listed.find((c) => c.name === 'api')?.hasBearerToken).toBe(true);
        return;
      }
      case 'certificate': {
        for (const w of round.acked) certificates.add(String(w.mark));
        const listed = (await call('listCertificates', {})).certificates as {
          thumbprint: string;
          hasPrivateKey: boolean;
        }[];
        const byThumbprint = new Map(listed.map((c) => [c.thumbprint, c]));
        for (const thumbprint of certificates) {
          expect(byThumbprint.get(thumbprint)?.hasPrivateKey, `certificate ${thumbprint} lost`).toBe(true);
        }
        // The key of the newest acknowledged certificate is readable from the vault, not only listed
        // (every few rounds: a PFX export runs 600,000 PBKDF2 iterations).
        if (last && certificates.size % 3 === 0) {
          const exported = await call('exportCertificate', {
            thumbprint: String(last.mark),
            format: 'pfx',
            password: 'export password 123',
          });
          expect(String(exported.data).length).toBeGreaterThan(100);
        }
        return;
      }
    }
  };

  it(
    `restarts with valid files and the last acknowledged write, ${KILLS} kills`,
    async () => {
      await node.startHost();
      // Two backups that differ in one visible setting; the loop restores them in turn.
      for (const limit of [7, 9]) {
        await call('setConcurrentJobsLimit', { limit });
        const made = await call('createBackup', { password: BACKUP_PASSWORD });
        backups.push({ content: String(made.content), limit });
      }

      const certificates = new Set<string>();
      const credentials = new Set<string>();
      const perKind: Record<Kind, { rounds: number; acked: number; inFlightLanded: number }> = {
        config: { rounds: 0, acked: 0, inFlightLanded: 0 },
        credential: { rounds: 0, acked: 0, inFlightLanded: 0 },
        vault: { rounds: 0, acked: 0, inFlightLanded: 0 },
        certificate: { rounds: 0, acked: 0, inFlightLanded: 0 },
        backup: { rounds: 0, acked: 0, inFlightLanded: 0 },
      };
      const leftTemps: string[] = [];
      /** The bearer token the vault must hold; undefined right after a restore, when it may be either. */
      let vaultToken: string | null | undefined = null;

      for (let i = 0; i < KILLS; i += 1) {
        const kind = KINDS[i % KINDS.length]!;
        const round: Round = { kind, acked: [], inFlight: null };
        const stop = { dead: false };
        const writing = writeUntilKilled(round, stop);
        await sleep(Math.floor(Math.random() * (MAX_DELAY_MS[kind] ?? MAX_DELAY_MS.default!)));
        stop.dead = true;
        await node.kill('SIGKILL');
        await writing;
        perKind[kind].rounds += 1;
        perKind[kind].acked += round.acked.length;

        // The files as the kill left them, before the host touches anything.
        checkFiles();
        if (kind === 'vault') {
          const last = round.acked.at(-1);
          if (last) vaultToken = String(last.mark);
          const inFlight = round.inFlight ? String(round.inFlight.mark) : null;
          const stored = await new FileVault(path.join(node.home, 'vault')).get('data-store-credential:api');
          const token =
            stored === null ? null : ((JSON.parse(stored) as { bearerToken?: string }).bearerToken ?? null);
          if (token !== null && token === inFlight) perKind.vault.inFlightLanded += 1;
          if (vaultToken !== undefined) {
            expect([vaultToken, inFlight], `vault token ${token}`).toContain(token);
          }
          vaultToken = token;
        }
        if (kind === 'backup' && (round.acked.length > 0 || round.inFlight)) {
          // A restore puts back the backup's credentials, certificates and secrets: what was there before may go.
          certificates.clear();
          credentials.clear();
          vaultToken = undefined;
        }

        await node.startHost();
        const status = await call('getStatus', {});
        expect(typeof status.status).toBe('string');
        // A killed write's temp file is no state: the restarted host (answering, so done starting) removed them.
        leftTemps.push(...filesUnder(node.home).filter((f) => f.endsWith('.tmp')));
        await checkRound(round, certificates, credentials);
      }
      console.log(`kill loop: ${JSON.stringify(perKind)}`);
      expect(leftTemps, 'temp files left by killed writes').toEqual([]);
      for (const kind of KINDS) expect(perKind[kind].rounds).toBe(KILLS / KINDS.length);
      // The loop really wrote: most rounds acknowledged something before the kill.
      expect(Object.values(perKind).reduce((n, k) => n + k.acked, 0)).toBeGreaterThan(KILLS);
    },
    15 * 60_000,
  );
});
