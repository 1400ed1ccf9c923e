import { describe, expect, it } from 'vitest';
import { first, flag, intParam } from './query.js';

describe('engine query parameters', () => {
  it('reads a flag as Docker does (Go ParseBool); anything else is a 400 naming it', () => {
    for (const v of [undefined, '', '0', 'false', 'FALSE', 'f', ['0', '1']]) expect(flag(v, 'force')).toBe(false);
    for (const v of ['1', 'true', 'True', 't', ['1']]) expect(flag(v, 'force')).toBe(true);
    expect(() => flag('yes', 'force')).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('force') }));
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
