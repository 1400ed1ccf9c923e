/**
 * The engine API fuzzed (test/fuzz/engine-fuzz.ts: a real image service and container manager
 * on the fake driver): no 5xx, a V1Status for every error, a field for every 422 cause. A
 * fixed seed; bench/fuzz runs more with any seed. Plus the cases the fuzzer found.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExecSpec } from '../../api/index.js';
import { describeRequest } from '../../../test/fuzz/check.js';
import { engineRequest, engineTarget, smallRootfsTar, type EngineTarget } from '../../../test/fuzz/engine-fuzz.js';
import { RESEED_EVERY } from '../../../test/fuzz/run.js';
import { parseCreateBody } from './create-body.js';

const SEED = 20261211;
const CASES = 1500;

let target: EngineTarget;
beforeAll(async () => {
  target = await engineTarget();
});
afterAll(async () => {
  await target.close();
});

describe('fuzz: the engine API', () => {
  it(`answers ${CASES} random requests with no 5xx, a V1Status for every error and a field for every 422 cause`, async () => {
    const tar = await smallRootfsTar();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(engineRequest(tar), async (req) => {
        if (++n % RESEED_EVERY === 0) await target.reseed();
        const a = await target.send(req);
        if (a.failure !== undefined) throw new Error(`${a.failure}: ${describeRequest(req)} -> ${a.status} ${a.body}`);
      }),
      { seed: SEED, numRuns: CASES },
    );
  }, 60_000);

  it('names an unknown field with an odd key (found by fuzzing: an empty key gave a cause with no field)', () => {
    expect(() => parseCreateBody({ image: 'x', '': 1 })).toThrow(expect.objectContaining({ causes: [{ field: '[""]', reason: 'FieldValueNotSupported', message: 'unknown field' }] }));
    expect(() => parseExecSpec({ cmd: ['sh'], 'a.b': 1 })).toThrow(expect.objectContaining({ causes: [expect.objectContaining({ field: '["a.b"]' })] }));
  });

  it('answers a malformed URL and an over-long parameter with a V1Status (found by fuzzing: fastify\'s own error body came back)', async () => {
    for (const url of ['/v1/containers/%E0%A4%A/json', `/v1/images/${'x'.repeat(3000)}/json`]) {
      const r = await target.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ kind: 'Status', status: 'Failure', code: 400 });
    }
  });
});
