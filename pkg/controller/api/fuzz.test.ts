/**
 * Garbage in, never a 500 out: the controller API fuzzed with test/fuzz's requests (mutated
 * manifests, merge patches, random routes, methods, queries, content types and bodies) and
 * judged by its oracle (test/fuzz/check.ts). A fixed seed, so a failure here is a failure on
 * every run; bench/fuzz runs 100,000 cases with any seed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAnswer, describeRequest } from '../../../test/fuzz/check.js';
import { controllerTarget, type ControllerTarget } from '../../../test/fuzz/controller-fuzz.js';
import { RESEED_EVERY } from '../../../test/fuzz/run.js';
import { controllerRequest, streamless } from '../../../test/fuzz/controller-requests.js';
import { loadManifests } from '../../../test/fuzz/manifests.js';

const SEED = 20261211;
const CASES = 3000;

let target: ControllerTarget;
beforeAll(async () => {
  target = await controllerTarget();
});
afterAll(async () => {
  await target.close();
});

describe('fuzz: the controller API', () => {
  it(`answers ${CASES} random requests with no 5xx, a V1Status for every error, a field for every 422 cause, and nothing changed by a rejection`, async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(controllerRequest(loadManifests()), async (req) => {
        if (++n % RESEED_EVERY === 0) await target.reseed();
        const a = await target.send(req);
        if (a.failure !== undefined) throw new Error(`${a.failure}: ${describeRequest(req)} -> ${a.status} ${a.body}`);
      }),
      { seed: SEED, numRuns: CASES },
    );
  }, 60_000);
});

describe('the fuzz oracle', () => {
  const status = (code: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ kind: 'Status', status: 'Failure', code, message: 'm', ...extra });
  it('refuses 5xx, bodies that are not a V1Status, 422s without named fields, and rejections that changed the store', () => {
    const get = { method: 'GET' };
    expect(checkAnswer(get, { status: 500, headers: {}, body: status(500) })).toMatch(/HTTP 500/);
    expect(checkAnswer(get, { status: 503, headers: { 'retry-after': '1' }, body: status(503) })).toBeUndefined();
    expect(checkAnswer(get, { status: 400, headers: {}, body: 'oops' })).toMatch(/not JSON/);
    expect(checkAnswer(get, { status: 400, headers: {}, body: status(400, { message: '' }) })).toMatch(/without a message/);
    expect(checkAnswer(get, { status: 422, headers: {}, body: status(422) })).toMatch(/without causes/);
    const cause = (field: string) => status(422, { details: { causes: [{ field, reason: 'FieldValueInvalid', message: 'x' }] } });
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('') })).toMatch(/without a field/);
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('spec.') })).toMatch(/malformed field/);
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('metadata.labels[]') })).toMatch(/malformed field/);
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('spec[undefined]') })).toMatch(/malformed field/);
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('spec["a..b"]') })).toBeUndefined();
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('metadata.labels[a..b]') })).toBeUndefined();
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('NaN') })).toMatch(/malformed field/);
    const spec = Buffer.from('{"NaN":1}').toString('base64');
    expect(checkAnswer({ method: 'POST', url: `/x?spec=${spec}` }, { status: 422, headers: {}, body: cause('NaN') })).toBeUndefined();
    expect(checkAnswer(get, { status: 422, headers: {}, body: cause('spec.replicas') })).toBeUndefined();
    expect(checkAnswer({ method: 'PUT' }, { status: 409, headers: {}, body: status(409) }, 5, 6)).toMatch(/store changed/);
  });
  it('turns streaming requests into plain ones', () => {
    expect(streamless('/x?watch=1')).toBe('/x');
    expect(streamless('/x?follow=True&a=b')).toBe('/x');
    expect(streamless('/x?watch=maybe')).toBe('/x?watch=maybe');
    expect(streamless('/x?watch=0')).toBe('/x?watch=0');
  });
});
