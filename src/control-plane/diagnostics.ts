import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { z } from 'zod';
import {
  DIAGNOSTICS_UPLOAD_ROUTE,
  DiagnosticsBundleIdSchema,
  MAX_DIAGNOSTICS_BUNDLE_BYTES,
  ReceivedDiagnosticsSchema,
  type ReceivedDiagnostics,
} from '../shared/diagnosticsBundle';
import { OpenIrError } from '../shared/errors';
import { writeFileAtomic } from './atomicFile';
import { isoTime, type Clock } from './clock';
import { table } from './format';
import type { Logger } from './log';
import type { IrRegistry } from './registry';
import type { ControlPlaneStore } from './store';

/**
 * Diagnostics bundles sent by nodes (`openir diagnostics-bundle --send`), kept
 * as files under the data directory: `diagnostics/<id>.zip`, and a small
 * `diagnostics/index.json` (written atomically) naming each bundle's node,
 * IR, size, SHA-256 and arrival. Files, not the database: a bundle is a blob
 * for support to fetch, nothing the control plane queries.
 */
export function diagnosticsDir(dataDir: string): string {
  return path.join(dataDir, 'diagnostics');
}

const IndexSchema = z.object({ bundles: z.array(ReceivedDiagnosticsSchema) });
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

export function readDiagnosticsIndex(dataDir: string): ReceivedDiagnostics[] {
  const file = path.join(diagnosticsDir(dataDir), 'index.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const parsed = IndexSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new OpenIrError('INVALID_INPUT', `The diagnostics index ${file} is damaged.`, {
      fix: 'Move it away; the bundles beside it stay readable as files.',
    });
  }
  return parsed.data.bundles;
}

/** Read, add, write in one synchronous step: two uploads finishing together cannot lose an entry. */
function addToIndex(dataDir: string, entry: ReceivedDiagnostics): void {
  const bundles = readDiagnosticsIndex(dataDir).filter((bundle) => bundle.id !== entry.id);
  bundles.push(entry);
  writeFileAtomic(
    path.join(diagnosticsDir(dataDir), 'index.json'),
    `${JSON.stringify({ bundles }, null, 2)}\n`,
    0o600,
  );
}

export interface DiagnosticsRouteDeps {
  dataDir: string;
  registry: IrRegistry;
  store: ControlPlaneStore;
  log: Logger;
  clock: Clock;
  maxBytes?: number;
}

/**
 * PUT /api/v1/nodes/self/diagnostics/<id>: a node uploads a bundle, as itself
 * (its node credential), over the same TLS it registered with. The body is
 * streamed to a temp file, counted (413 past the cap, before reading it when
 * the length says so), checked to be a zip, then renamed into place.
 */
export function registerDiagnosticsRoute(
  app: FastifyInstance<HttpsServer>,
  deps: DiagnosticsRouteDeps,
): void {
  const maxBytes = deps.maxBytes ?? MAX_DIAGNOSTICS_BUNDLE_BYTES;
  // The staging route leaves octet-stream bodies unread too; add the parser only if it is not there.
  if (!app.hasContentTypeParser('application/octet-stream')) {
    app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null));
  }
  const dir = diagnosticsDir(deps.dataDir);
  const tooLarge = (size: number) =>
    new OpenIrError(
      'DIAGNOSTICS_BUNDLE_TOO_LARGE',
      `The diagnostics bundle is ${size} bytes or more; this control plane takes at most ${maxBytes}.`,
      { fix: 'Hand the saved zip to support another way.' },
    );

  app.put<{ Params: { id: string } }>(DIAGNOSTICS_UPLOAD_ROUTE, async (request) => {
    const node = deps.registry.nodeFromAuthorization(request.headers.authorization);
    const parsedId = DiagnosticsBundleIdSchema.safeParse(request.params.id);
    if (!parsedId.success) {
      throw new OpenIrError('INVALID_INPUT', `"${request.params.id}" is not a diagnostics bundle ID.`, {
        fix: 'A bundle ID looks like OIR-7K2M9Q4XH3VD.',
      });
    }
    const id = parsedId.data;
    const declared = Number(request.headers['content-length']);
    if (Number.isSafeInteger(declared) && declared > maxBytes) throw tooLarge(declared);
    const final = path.join(dir, `${id}.zip`);
    if (existsSync(final)) {
      throw new OpenIrError('FILE_EXISTS', `A diagnostics bundle ${id} was already received.`, {
        fix: 'Make a new bundle: each has its own ID.',
      });
    }
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const part = path.join(dir, `.${id}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    try {
      await pipeline(
        request.raw,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length;
            if (size > maxBytes) return callback(tooLarge(size));
            if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
            hash.update(chunk);
            callback(null, chunk);
          },
        }),
        createWriteStream(part, { mode: 0o600 }),
      );
      if (size < 4 || !head.equals(ZIP_MAGIC)) {
        throw new OpenIrError('INVALID_INPUT', 'The diagnostics bundle is not a zip file.', {
          fix: 'Send the zip `openir diagnostics-bundle` made.',
        });
      }
      const fd = openSync(part, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // link() refuses an existing name: two uploads of one ID cannot replace each other.
      try {
        linkSync(part, final);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        throw new OpenIrError('FILE_EXISTS', `A diagnostics bundle ${id} was already received.`, {
          fix: 'Make a new bundle: each has its own ID.',
        });
      }
    } finally {
      rmSync(part, { force: true });
    }
    const ir = deps.store.findIrById(node.irId);
    const entry: ReceivedDiagnostics = {
      id,
      nodeId: node.id,
      nodeName: node.name,
      irId: node.irId,
      irName: ir?.name ?? node.irId,
      size,
      sha256: hash.digest('hex'),
      receivedAt: isoTime(deps.clock.nowMs()),
    };
    addToIndex(deps.dataDir, entry);
    deps.log.info(
      `Received diagnostics bundle ${id} from node '${node.name}' in '${entry.irName}' (${size} bytes)`,
    );
    return { id, receivedAt: entry.receivedAt, size, sha256: entry.sha256 };
  });
}

/** `openir-control-plane diagnostics list`. */
export function listDiagnostics(dataDir: string, irName?: string): { json: unknown; text: string } {
  const bundles = readDiagnosticsIndex(dataDir)
    .filter((bundle) => irName === undefined || bundle.irName === irName)
    .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
  const text =
    bundles.length === 0
      ? 'No diagnostics bundles received yet. A node sends one with: openir diagnostics-bundle --out F.zip --send'
      : table(
          ['ID', 'NODE', 'IR', 'SIZE', 'RECEIVED'],
          bundles.map((b) => [b.id, b.nodeName, b.irName, String(b.size), b.receivedAt]),
        );
  return { json: { bundles }, text };
}

/** A received bundle's bytes (GET /api/v1/admin/diagnostics/{id}), checked against the SHA-256 recorded on arrival. */
export function readDiagnosticsBundle(
  dataDir: string,
  id: string,
): { entry: ReceivedDiagnostics; bytes: Buffer } {
  const entry = readDiagnosticsIndex(dataDir).find((bundle) => bundle.id === id.trim().toUpperCase());
  if (!entry) {
    throw new OpenIrError('NOT_FOUND', `No diagnostics bundle ${id} was received here.`, {
      fix: 'See `openir-control-plane diagnostics list` for the IDs.',
    });
  }
  const source = path.join(diagnosticsDir(dataDir), `${entry.id}.zip`);
  const bytes = readFileSync(source);
  if (createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new OpenIrError(
      'INVALID_INPUT',
      `The stored bundle ${entry.id} does not match its recorded SHA-256.`,
      {
        fix: `The file ${source} was changed or damaged on disk; ask the node for a new bundle.`,
      },
    );
  }
  return { entry, bytes };
}

/** `openir-control-plane diagnostics get <id> [--out F]`: the fetched zip, checked again, written atomically. */
export function writeDiagnosticsBundle(
  entry: ReceivedDiagnostics,
  bytes: Buffer,
  out: string | undefined,
  overwrite: boolean,
): { json: unknown; text: string } {
  if (createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new OpenIrError('CONTROL_PLANE_ERROR', `Bundle ${entry.id} arrived damaged (SHA-256 mismatch).`, {
      fix: 'Fetch it again.',
    });
  }
  const target = path.resolve(out ?? `${entry.id}.zip`);
  const existing = existsSync(target) ? statSync(target) : null;
  if (existing?.isDirectory() || (existing && !overwrite)) {
    throw new OpenIrError('FILE_EXISTS', `${target} already exists.`, {
      fix: 'Choose another file with --out, or add --overwrite.',
    });
  }
  try {
    writeFileAtomic(target, bytes, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      throw new OpenIrError('DISK_FULL', `Could not write ${target}: the disk is full.`, {
        fix: 'Free space or write elsewhere with --out.',
        cause: error,
      });
    }
    throw new OpenIrError(
      'FILE_NOT_WRITABLE',
      `Cannot write ${target}: ${code ?? (error as Error).message}.`,
      {
        fix: 'Give a path in an existing folder you can write to, with --out.',
        cause: error,
      },
    );
  }
  return {
    json: { ...entry, file: target },
    text: `Wrote diagnostics bundle ${entry.id} from node '${entry.nodeName}' in '${entry.irName}' (${entry.size} bytes, sha256 ${entry.sha256}) to ${target}.`,
  };
}
