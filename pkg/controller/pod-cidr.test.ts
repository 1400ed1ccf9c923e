import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocatePodCidrs } from './pod-cidr.js';

describe('podCIDR allocation', () => {
  it('gives the lowest free /24s, keeps valid assignments, fixes duplicates and strays', () => {
    const plan = allocatePodCidrs('10.244.0.0/16', [
      { name: 'a', podCIDR: '10.244.1.0/24' },
      { name: 'b' },
      { name: 'c', podCIDR: '10.244.1.0/24' }, // duplicate of a
      { name: 'd', podCIDR: '192.168.0.0/24' }, // outside
    ]);
    expect(Object.fromEntries(plan.assign)).toEqual({ b: '10.244.0.0/24', c: '10.244.2.0/24', d: '10.244.3.0/24' });
  });

  it('reuses a subnet once its node is gone; reports exhaustion', () => {
    expect(allocatePodCidrs('10.244.0.0/23', [{ name: 'x', podCIDR: '10.244.1.0/24' }, { name: 'y' }]).assign.get('y')).toBe('10.244.0.0/24');
    expect(allocatePodCidrs('10.244.0.0/24', [{ name: 'x', podCIDR: '10.244.0.0/24' }, { name: 'y' }]).exhausted).toEqual(['y']);
    expect(() => allocatePodCidrs('10.0.0.0/33', [])).toThrow(/not an IPv4 CIDR/);
    expect(allocatePodCidrs('10.244.7.9/23', [{ name: 'y' }]).assign.get('y')).toBe('10.244.6.0/24');
  });

  it('property: never two nodes the same subnet, stable for nodes that have one', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }), { maxLength: 40 }), (subnets) => {
        const nodes = subnets.map((s, i) => ({ name: `n${i}`, podCIDR: s === undefined ? undefined : `10.244.${s}.0/24` }));
        const plan = allocatePodCidrs('10.244.0.0/16', nodes);
        const final = nodes.map((n) => plan.assign.get(n.name) ?? n.podCIDR);
        expect(new Set(final).size).toBe(final.length);
        expect(final.every((c) => c !== undefined && /^10\.244\.\d+\.0\/24$/.test(c))).toBe(true);
        const seen = new Set<string>();
        for (const n of [...nodes].sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const valid = n.podCIDR !== undefined && Number(n.podCIDR.split('.')[2]) < 256 && !seen.has(n.podCIDR);
          if (valid && n.podCIDR !== undefined) {
            seen.add(n.podCIDR);
            expect(plan.assign.has(n.name)).toBe(false);
          }
        }
      }),
    );
  });
});
