/**
 * Serves the engine API on a UNIX socket (mode 0600, parent directory created). A socket file
 * left by a crashed agent is removed; one that still answers means another agent is running
 * there, and start-up fails with FailedPrecondition rather than stealing it.
 */
import { connect } from 'node:net';
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { errors } from '../../api/index.js';

export interface EngineServer {
  socketPath: string;
  close(): Promise<void>;
}

export async function listenOnSocket(app: FastifyInstance, socketPath: string): Promise<EngineServer> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await removeStaleSocket(socketPath);
  await app.listen({ path: socketPath });
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    close: async () => {
      await app.close();
      await rm(socketPath, { force: true });
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw errors.failedPrecondition(`${path} exists and is not a socket: refusing to replace it`);
  if (await answers(path)) throw errors.failedPrecondition(`another process is serving on ${path}: is a shoal-agent already running?`);
  await rm(path, { force: true });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}
