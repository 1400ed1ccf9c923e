import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, sleep } from './backoff.js';

describe('backoff', () => {
  it('doubles from the minimum up to the cap; jitter draws from the upper share', () => {
    const p = { minMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10, 1e6].map((a) => backoffDelay(p, a, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect([0, 1, 2].map((a) => backoffDelay(p, a, () => 0))).toEqual([50, 100, 200]);
    expect(backoffDelay({ ...p, jitter: 0 }, 2, () => 0)).toBe(400);
    expect(backoffDelay({ ...p, jitter: 1 }, 2, () => 0)).toBe(0);
  });

  it('counts failures until reset', () => {
    const b = new Backoff({ minMs: 10, maxMs: 40, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([10, 20, 40, 40]);
    expect(b.failures).toBe(4);
    b.reset();
    expect(b.failures).toBe(0);
    expect(b.next()).toBe(10);
  });

  it('sleep ends early on abort and never rejects', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await expect(p).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
