/**
 * The chaos soak (test/e2e/chaos/soak.ts), short: SHOAL_CHAOS_MINUTES (default 1.5) of faults
 * from the plan of SHOAL_CHAOS_SEED (default 11) on three netns hosts, two controllers and
 * three etcd members. `bench/chaos --minutes N` runs it longer and prints the same figures.
 */
import { describe, expect, it } from 'vitest';
import { clusterSkipReason } from './harness/index.js';
import { formatSoak, runSoak, saveSoak } from './chaos/soak.js';

const minutes = Number(process.env['SHOAL_CHAOS_MINUTES'] ?? 1.5);
const seed = Number(process.env['SHOAL_CHAOS_SEED'] ?? 11);
const skip = clusterSkipReason();
if (skip) console.warn(`chaos e2e skipped: ${skip}`);

describe.skipIf(skip !== undefined)('chaos soak', () => {
  it(`${minutes} min of faults: no duplicate replica once nodes are back, no 5xx but 503, nothing left over`, { timeout: (minutes * 60 + 600) * 1000 }, async () => {
    const r = await runSoak({ minutes, seed });
    const text = formatSoak(r);
    console.log(text);
    const out = process.env['SHOAL_CHAOS_JSON'];
    if (out) await saveSoak(r, out);
    expect(r.injected.length, text).toBeGreaterThan(0);
    expect(r.report.violations, text).toEqual([]);
    expect(r.finalState, text).toBeUndefined();
    expect(r.report.unconverged, text).toBe(0);
    expect(r.leftovers, text).toEqual([]);
    expect(r.afterTeardown, text).toEqual([]);
  });
});
