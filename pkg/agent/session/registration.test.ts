import { describe, expect, it } from 'vitest';
import { podCIDRCheckDue, type PodCIDRState } from './registration.js';

const due = (s: PodCIDRState, beats = 20): number[] => Array.from({ length: beats }, (_, i) => i + 1).filter((b) => podCIDRCheckDue(b, s));

describe('podCIDRCheckDue', () => {
  it('checks every tenth beat once the network is on the pod CIDR', () => {
    expect(due({ hook: true, podCIDR: '10.244.1.0/24', applied: '10.244.1.0/24' })).toEqual([10, 20]);
    expect(due({ hook: false, podCIDR: '10.244.1.0/24', applied: undefined })).toEqual([10, 20]);
  });

  it('checks every second beat while no pod CIDR is assigned', () => {
    expect(due({ hook: false, podCIDR: undefined, applied: undefined }, 6)).toEqual([2, 4, 6]);
  });

  it('checks every beat while the hook has not applied the current pod CIDR', () => {
    expect(due({ hook: true, podCIDR: undefined, applied: undefined }, 3)).toEqual([1, 2, 3]);
    expect(due({ hook: true, podCIDR: '10.244.2.0/24', applied: '10.244.1.0/24' }, 3)).toEqual([1, 2, 3]);
  });
});
