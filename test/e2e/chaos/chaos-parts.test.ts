import { describe, expect, it } from 'vitest';
import { planFaults, random } from './faults.js';
import { converged, InvariantChecker, type Sample } from './invariants.js';

const svc = [{ name: 'web', replicas: 2 }];
const sample = (t: number, running: [string, string, number][], o: Partial<Sample> = {}): Sample => ({
  t,
  allConnected: true,
  services: svc,
  running: running.map(([host, id, slot]) => ({ host, id, service: 'web', slot })),
  apiRunning: { web: 2 },
  ...o,
});

describe('chaos: the invariant checker', () => {
  it('allows duplicates while a node is cut off, and for the grace after it is back, not longer', () => {
    const c = new InvariantChecker({ graceMs: 3000 });
    c.observe(sample(0, [['h1', 'a', 1], ['h2', 'b', 2]]));
    c.observe(sample(1000, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]], { allConnected: false }));
    c.observe(sample(20_000, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]], { allConnected: false }));
    c.observe(sample(21_000, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]]));
    c.observe(sample(23_500, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]]));
    expect(c.report().violations).toEqual([]);
    c.observe(sample(24_500, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]]));
    c.observe(sample(25_000, [['h1', 'a', 1], ['h2', 'b', 2], ['h3', 'c', 1]]));
    expect(c.report().violations.map((v) => v.kind)).toEqual(['duplicate']);
    expect(c.report()).toMatchObject({ duplicateEpisodes: 1, maxDuplicateConnectedMs: 4000 });
  });

  it('allows two per slot during a start-first update', () => {
    const c = new InvariantChecker({ graceMs: 1000 });
    const startFirst = { services: [{ name: 'web', replicas: 2, startFirstUpdate: true }] };
    c.observe(sample(0, [['h1', 'a', 1], ['h2', 'b', 1], ['h2', 'c', 2]], startFirst));
    c.observe(sample(5000, [['h1', 'a', 1], ['h2', 'b', 1], ['h2', 'c', 2]], startFirst));
    expect(c.report().violations).toEqual([]);
  });

  it('measures convergence from the heal of the last fault', () => {
    const c = new InvariantChecker({ graceMs: 3000 });
    c.faultStarted();
    c.observe(sample(1000, [['h1', 'a', 1]]));
    c.faultHealed(2000);
    c.observe(sample(3000, [['h1', 'a', 1]]));
    expect(c.report().unconverged).toBe(1);
    c.observe(sample(6500, [['h1', 'a', 1], ['h2', 'd', 2]]));
    expect(c.report()).toMatchObject({ faults: 1, unconverged: 0, maxConvergeMs: 4500 });
  });

  it('counts API answers; only 2xx, 4xx and 503 are allowed', () => {
    const c = new InvariantChecker({ graceMs: 1000 });
    for (const s of [200, 201, 404, 409, 422, 503]) c.apiAnswer(0, s, 'x');
    expect(c.report().violations).toEqual([]);
    c.apiAnswer(1, 500, 'GET /x');
    expect(c.report().violations).toMatchObject([{ kind: 'api-status', detail: 'GET /x answered 500' }]);
    expect(c.report().apiAnswers).toEqual({ '2xx': 2, '4xx': 3, '503': 1, '500': 1 });
  });

  it('converged needs one container per slot 1..N and the API to agree', () => {
    expect(converged(sample(0, [['h1', 'a', 1], ['h2', 'b', 2]]))).toBe(true);
    expect(converged(sample(0, [['h1', 'a', 1], ['h2', 'b', 3]]))).toBe(false);
    expect(converged(sample(0, [['h1', 'a', 1], ['h2', 'b', 2]], { apiRunning: { web: 3 } }))).toBe(false);
  });
});

describe('chaos: the fault plan', () => {
  it('is deterministic for a seed, one fault at a time, within the duration', () => {
    const o = { seed: 7, durationMs: 600_000, hosts: 3, controllers: 2, etcdMembers: 3, services: 2 };
    const a = planFaults(o);
    expect(planFaults(o)).toEqual(a);
    expect(a.length).toBeGreaterThan(20);
    for (let i = 1; i < a.length; i++) expect(a[i]!.at).toBeGreaterThanOrEqual(a[i - 1]!.at + a[i - 1]!.holdMs);
    expect(a.every((f) => f.at < o.durationMs)).toBe(true);
    expect(new Set(a.map((f) => f.kind)).size).toBe(6);
    const r = random(1);
    expect(r()).not.toBe(r());
  });
});
