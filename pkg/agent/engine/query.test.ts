import { describe, expect, it } from 'vitest';
import { first, flag, intParam } from './query.js';

describe('engine query parameters', () => {
  it('reads a flag as the engine always has for containers', () => {
    for (const v of [undefined, '', '0', 'false', 'FALSE', ['0', '1']]) expect(flag(v)).toBe(false);
    for (const v of ['1', 'true', 'yes', ['1']]) expect(flag(v)).toBe(true);
    expect(first(['a', 'b'])).toBe('a');
  });

  it('reads numbers with a floor, fractions only when allowed', () => {
    expect(intParam({ t: '3' }, 't')).toBe(3);
    expect(intParam({ t: '' }, 't')).toBeUndefined();
    expect(intParam({ t: '-1' }, 't', { min: -1 })).toBe(-1);
    expect(intParam({ t: '0.5' }, 't', { allowFraction: true })).toBe(0.5);
    for (const t of ['0.5', '-1', 'abc', 'Infinity']) expect(() => intParam({ t }, 't')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });
});
