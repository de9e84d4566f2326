import fs from 'node:fs/promises';
import net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HostApi } from '../shared/contract';
import { OpenIrError } from '../shared/errors';
import { bindContractOverHttp } from './httpBinding';
import type { SourceLogger } from './logger';
import type { DataPaths } from './paths';

/**
 * The host's local API for the CLI: the contract over HTTP on a Unix socket
 * (0600, in a 0700 folder) or a Windows named pipe. Only the user who runs the
 * host can reach it; nothing listens on the network. With `groupAccess` (the
 * Linux service, OPENIR_GROUP_ACCESS=1) the socket is 0660 in a 0750 folder,
 * so members of the host's group (the admin group) reach it too.
 */
export async function startLocalApi(
  paths: DataPaths,
  api: HostApi,
  log: SourceLogger,
  options: { groupAccess?: boolean; ready?: Promise<void> } = {},
): Promise<FastifyInstance> {
  const dirMode = options.groupAccess ? 0o750 : 0o700;
  await fs.mkdir(paths.runDir, { recursive: true, mode: dirMode });
  await fs.chmod(paths.runDir, dirMode).catch(() => undefined);
  if (process.platform !== 'win32') await clearStaleSocket(paths.socket);
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  const { ready } = options;
  if (ready) {
    // Requests that arrive while the host is still loading its state wait for it.
    app.addHook('onRequest', async () => {
      await ready;
    });
  }
  bindContractOverHttp(app, api, log);
  try {
    await app.listen({ path: paths.socket });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new OpenIrError('HOST_ALREADY_RUNNING', `An OpenIR host is already running for ${paths.home}.`, {
        fix: 'Use `openir status`, or stop the other host first.',
      });
    }
    throw error;
  }
  if (process.platform !== 'win32') await fs.chmod(paths.socket, options.groupAccess ? 0o660 : 0o600);
  await fs.writeFile(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  return app;
}

/** A socket file left by a killed host is removed; a live one means another host owns this data directory. */
async function clearStaleSocket(socket: string): Promise<void> {
  try {
    await fs.stat(socket);
  } catch {
    return;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const conn = net.connect(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
  if (alive) {
    throw new OpenIrError(
      'HOST_ALREADY_RUNNING',
      'An OpenIR host is already running for this data directory.',
      {
        fix: 'Use `openir status`, or stop the other host first.',
      },
    );
  }
  await fs.rm(socket, { force: true });
}
