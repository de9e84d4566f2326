import fs from 'node:fs/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HostApi } from '../shared/contract';
import { bindContractOverHttp, MAX_REQUEST_BYTES } from './httpBinding';
import type { SourceLogger } from './logger';
import {
  answers,
  forgetPipeName,
  holdLock,
  hostAlreadyRunning,
  lockPipeName,
  newPipeName,
  recordedPipeName,
  recordPipeName,
  restrictPipe,
} from './localEndpoint';
import type { DataPaths } from './paths';

/**
 * The host's local API for the CLI: the contract over HTTP on a Unix socket
 * (0600, in a 0700 folder) or a Windows named pipe. Only the user who runs the
 * host can reach it; nothing listens on the network. With `groupAccess` (the
 * Linux service, OPENIR_GROUP_ACCESS=1) the socket is 0660 in a 0750 folder,
 * so members of the host's group (the admin group) reach it too. On Windows
 * the pipe's name is random at each start and recorded in the run folder
 * (core/localEndpoint), and its DACL is narrowed to the user, SYSTEM and
 * Administrators.
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
  const windows = process.platform === 'win32';
  // Windows: the API pipe's name is new at each start, so a second host would not collide on it; the lock pipe keeps it to one.
  const lock = windows ? await holdLock(lockPipeName(paths.home), paths.home) : null;
  if (windows) {
    const previous = recordedPipeName(paths);
    // The lock is ours, so whatever answers there is not a host of this directory: it loses the CLI now.
    if (previous && (await answers(previous))) {
      log.warn(
        `Something other than this data directory's host answers on the recorded pipe ${previous}; a new name is recorded.`,
      );
    }
  } else {
    await clearStaleSocket(paths);
  }
  const endpoint = windows ? newPipeName() : paths.socket;
  const app = Fastify({ logger: false, bodyLimit: MAX_REQUEST_BYTES });
  const { ready } = options;
  if (ready) {
    // Requests that arrive while the host is still loading its state wait for it.
    app.addHook('onRequest', async () => {
      await ready;
    });
  }
  bindContractOverHttp(app, api, log);
  if (windows) {
    // Forgotten at a clean stop: once the pipe is gone, anyone could create one of that name.
    app.addHook('onClose', async () => {
      await forgetPipeName(paths, endpoint);
      lock?.close();
    });
  }
  try {
    await app.listen({ path: endpoint });
  } catch (error) {
    lock?.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw hostAlreadyRunning(paths.home);
    throw error;
  }
  if (windows) {
    try {
      // Narrowed before the name is recorded, so the CLI never finds a pipe with the default DACL.
      await restrictPipe(endpoint, log);
      await recordPipeName(paths, endpoint, options.groupAccess ?? false);
    } catch (error) {
      await app.close();
      throw error;
    }
  } else {
    await fs.chmod(paths.socket, options.groupAccess ? 0o660 : 0o600);
  }
  await fs.writeFile(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  return app;
}

/** A socket file left by a killed host is removed; a live one means another host owns this data directory. */
async function clearStaleSocket(paths: DataPaths): Promise<void> {
  const socket = paths.socket;
  try {
    await fs.stat(socket);
  } catch {
    return;
  }
  if (await answers(socket)) throw hostAlreadyRunning(paths.home);
  await fs.rm(socket, { force: true });
}
