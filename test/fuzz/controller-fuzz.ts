/**
 * The controller API under fuzz: `buildApiServer` on a MemoryStore (seeded with a service, a
 * node and a task, seeded again every few hundred cases since the fuzzer deletes them), driven
 * by `app.inject()` with controllerRequest cases and judged by check.ts.
 */
import type { FastifyInstance } from 'fastify';
import { buildApiServer } from '../../pkg/controller/index.js';
import { MemoryStore } from '../../pkg/store/index.js';
import { sendAndCheck } from './check.js';
import { controllerRequest, SEED_OBJECTS } from './controller-requests.js';
import { loadManifests } from './manifests.js';
import { runFuzz, type FuzzReport, type FuzzTarget, type RunOptions } from './run.js';

export interface ControllerTarget extends FuzzTarget {
  app: FastifyInstance;
  store: MemoryStore;
}

export async function controllerTarget(): Promise<ControllerTarget> {
  const store = new MemoryStore();
  const app = buildApiServer({ security: 'off', store, heartbeat: { beat: async () => undefined } });
  await app.ready();
  const reseed = async (): Promise<void> => {
    for (const o of SEED_OBJECTS) await app.inject({ method: 'POST', url: o.url, payload: o.body as object });
  };
  await reseed();
  return {
    app,
    store,
    reseed,
    send: (req) => sendAndCheck(app, req, () => store.revision()),
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

/** The controller API fuzzed: every case of controllerRequest, the figures back. */
export async function runControllerFuzz(opts: RunOptions): Promise<FuzzReport> {
  const target = await controllerTarget();
  try {
    return await runFuzz(target, controllerRequest(loadManifests()), opts);
  } finally {
    await target.close();
  }
}
