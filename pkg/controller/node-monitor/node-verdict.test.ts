import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { graceMs, nodeVerdict, type NodeFacts } from './node-verdict.js';

const T = 1_700_000_000_000;
const at = (f: Partial<NodeFacts>): NodeFacts => ({ state: 'ready', hasLease: true, now: T, graceUntil: T - 1, ...f });

describe('nodeVerdict', () => {
  it('a lease makes a node ready; a ready node with a lease needs nothing', () => {
    expect(nodeVerdict(at({ state: 'down' }))).toEqual({ kind: 'ready' });
    expect(nodeVerdict(at({ state: 'unknown' }))).toEqual({ kind: 'ready' });
    expect(nodeVerdict(at({ state: 'ready' }))).toEqual({ kind: 'none' });
    // Also inside the grace: a beat is a beat.
    expect(nodeVerdict(at({ state: 'down', graceUntil: T + 5000 }))).toEqual({ kind: 'ready' });
  });

  it('a ready node without a lease waits out its grace, then is down', () => {
    expect(nodeVerdict(at({ hasLease: false, graceUntil: T + 1500 }))).toEqual({ kind: 'wait', ms: 1500 });
    expect(nodeVerdict(at({ hasLease: false, graceUntil: T }))).toEqual({ kind: 'down' });
    expect(nodeVerdict(at({ hasLease: false, graceUntil: T - 10 }))).toEqual({ kind: 'down' });
  });

  it('a node that is not ready and has no lease, or is gone, has its tasks orphaned', () => {
    expect(nodeVerdict(at({ state: 'down', hasLease: false }))).toEqual({ kind: 'orphan', removed: false });
    expect(nodeVerdict(at({ state: 'unknown', hasLease: false, graceUntil: T + 9999 }))).toEqual({ kind: 'orphan', removed: false });
    expect(nodeVerdict(at({ state: undefined }))).toEqual({ kind: 'orphan', removed: true });
    expect(nodeVerdict(at({ state: undefined, hasLease: false }))).toEqual({ kind: 'orphan', removed: true });
  });

  it('never marks down a node inside its grace, whatever else holds (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom('ready', 'down', 'unknown', undefined), fc.boolean(), fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: -60_000, max: 60_000 }), (state, hasLease, now, grace) => {
        const v = nodeVerdict({ state: state as NodeFacts['state'], hasLease, now, graceUntil: now + grace });
        if (grace > 0) expect(v.kind).not.toBe('down');
        if (hasLease) expect(['ready', 'none', 'orphan']).toContain(v.kind);
        if (v.kind === 'orphan') expect(hasLease && state !== undefined).toBe(false);
        if (v.kind === 'wait') expect(v.ms).toBe(grace);
      }),
    );
  });

  it('the grace is the node timeout, at least the lease TTL', () => {
    expect(graceMs(5000, 5)).toBe(5000);
    expect(graceMs(1500, 2)).toBe(2000);
    expect(graceMs(2500, 3)).toBe(3000);
  });
});
