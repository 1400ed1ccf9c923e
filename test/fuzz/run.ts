/**
 * Runs a fuzz target through every case of a request arbitrary (no stop at the first failure)
 * and returns the figures: cases, statuses, generators, failures (each with the seed and the
 * fast-check path that replays it), time. Targets (controller-fuzz.ts, engine-fuzz.ts) are
 * seeded again every RESEED_EVERY cases, since the fuzzer deletes what they hold.
 */
import fc from 'fast-check';
import { describeRequest, type CheckedAnswer } from './check.js';
import type { FuzzRequest } from './controller-requests.js';

export const RESEED_EVERY = 250;

export interface FuzzTarget {
  /** Puts back what the cases find (objects, containers) and sweeps what they piled up. */
  reseed(): Promise<void>;
  /** Sends one case and checks the answer. */
  send(req: FuzzRequest): Promise<CheckedAnswer>;
  close(): Promise<void>;
}

export interface FuzzFailure {
  seed: number;
  /** fast-check's path of the case: `--seed S --path P` replays it (against a freshly seeded target). */
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
  /** Called after each case (progress, replay output). */
  onCase?: (index: number, req: FuzzRequest, answer: CheckedAnswer) => void;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export async function runFuzz(target: FuzzTarget, requests: fc.Arbitrary<FuzzRequest>, opts: RunOptions): Promise<FuzzReport> {
  const report: FuzzReport = { cases: 0, statuses: new Map(), generators: new Map(), failures: [], ms: 0 };
  const first = opts.path !== undefined ? Number(opts.path.split(':')[0]) : 0;
  const t0 = performance.now();
  await fc.check(
    fc.asyncProperty(requests, async (req) => {
      const index = first + report.cases;
      if (report.cases > 0 && report.cases % RESEED_EVERY === 0) await target.reseed();
      const answer = await target.send(req);
      report.cases++;
      bump(report.statuses, answer.status);
      bump(report.generators, req.gen);
      if (answer.failure !== undefined) {
        report.failures.push({ seed: opts.seed, path: String(index), request: describeRequest(req), status: answer.status, failure: answer.failure, body: answer.body });
      }
      opts.onCase?.(index, req, answer);
      return true;
    }),
    { seed: opts.seed, numRuns: opts.path !== undefined ? 1 : opts.cases, ...(opts.path !== undefined ? { path: opts.path } : {}) },
  );
  report.ms = performance.now() - t0;
  return report;
}
