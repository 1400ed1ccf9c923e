/**
 * The controller API under fuzz: `buildApiServer` on a MemoryStore (seeded with a service, a
 * node and a task, seeded again every few hundred cases since the fuzzer deletes them), driven
 * by `app.inject()` with controllerRequest cases and judged by check.ts. `runControllerFuzz`
 * runs every case (no stop at the first failure) and returns the figures; a failure carries
 * the seed and fast-check path that replay it (against a freshly seeded store).
 */
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApiServer } from '../../pkg/controller/index.js';
import { MemoryStore } from '../../pkg/store/index.js';
import { describeRequest, sendAndCheck, type CheckedAnswer } from './check.js';
import { controllerRequest, SEED_OBJECTS, type FuzzRequest } from './controller-requests.js';
import { loadManifests } from './manifests.js';

export const RESEED_EVERY = 250;

export interface ControllerTarget {
  app: FastifyInstance;
  store: MemoryStore;
  /** Creates the seed objects again (those that are gone). */
  reseed(): Promise<void>;
  /** Sends one case and checks the answer. */
  send(req: FuzzRequest): Promise<CheckedAnswer>;
  close(): Promise<void>;
}

export async function controllerTarget(): Promise<ControllerTarget> {
  const store = new MemoryStore();
  const app = buildApiServer({ store, heartbeat: { beat: async () => undefined } });
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

export interface FuzzFailure {
  seed: number;
  /** fast-check's path of the case: `--seed S --path P` replays it. */
  path: string;
  request: string;
  status: number;
  failure: string;
  body: string;
}

export interface FuzzReport {
  cases: number;
  /** HTTP status → count (0: no answer). */
  statuses: Map<number, number>;
  /** Generator → count. */
  generators: Map<string, number>;
  failures: FuzzFailure[];
  ms: number;
}

export interface RunOptions {
  seed: number;
  cases: number;
  /** Replay one case (fast-check path). */
  path?: string;
  /** Called after each case (progress). */
  onCase?: (index: number, req: FuzzRequest, answer: CheckedAnswer) => void;
}

export async function runControllerFuzz(opts: RunOptions): Promise<FuzzReport> {
  const target = await controllerTarget();
  const report: FuzzReport = { cases: 0, statuses: new Map(), generators: new Map(), failures: [], ms: 0 };
  const first = opts.path !== undefined ? Number(opts.path.split(':')[0]) : 0;
  const t0 = performance.now();
  try {
    await fc.check(
      fc.asyncProperty(controllerRequest(loadManifests()), async (req) => {
        const index = first + report.cases;
        if (report.cases > 0 && report.cases % RESEED_EVERY === 0) await target.reseed();
        const answer = await target.send(req);
        report.cases++;
        report.statuses.set(answer.status, (report.statuses.get(answer.status) ?? 0) + 1);
        report.generators.set(req.gen, (report.generators.get(req.gen) ?? 0) + 1);
        if (answer.failure !== undefined) {
          report.failures.push({ seed: opts.seed, path: String(index), request: describeRequest(req), status: answer.status, failure: answer.failure, body: answer.body });
        }
        opts.onCase?.(index, req, answer);
        return true;
      }),
      { seed: opts.seed, numRuns: opts.path !== undefined ? 1 : opts.cases, ...(opts.path !== undefined ? { path: opts.path } : {}) },
    );
  } finally {
    report.ms = performance.now() - t0;
    await target.close();
  }
  return report;
}
