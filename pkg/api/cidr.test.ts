import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, cidrsOverlap, formatIPv4, isIP, isIPv4, parseCidr, parseIPv4 } from './cidr.js';

describe('IPv4 and CIDRs: the one parser', () => {
  it('round-trips addresses', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => parseIPv4(formatIPv4(n)) === n));
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '']) expect(isIPv4(bad), bad).toBe(false);
    expect(isIP('fd00::1')).toBe(true);
    expect(isIP('10.0.0.1')).toBe(true);
    expect(isIP('nope')).toBe(false);
  });

  it('parses blocks, strict about host bits unless asked to mask them', () => {
    expect(parseCidr('10.244.1.0/24')).toEqual({ cidr: '10.244.1.0/24', network: parseIPv4('10.244.1.0'), prefix: 24, size: 256 });
    expect(() => parseCidr('10.244.1.5/24')).toThrow(/host bits set \(the block is 10.244.1.0\/24\)/);
    expect(parseCidr('10.244.1.5/16', { strict: false }).cidr).toBe('10.244.0.0/16');
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/not an IPv4 CIDR/);
    expect(() => parseCidr('10.0.0.0/31', { maxPrefix: 30 })).toThrow(/between 0 and 30/);
    expect(() => parseCidr('10.0.0.0')).toThrow(/not an IPv4 CIDR/);
    expect(parseCidr('0.0.0.0/0').size).toBe(2 ** 32);
  });

  it('containment and overlap', () => {
    const a = parseCidr('10.0.0.0/16');
    const b = parseCidr('10.0.5.0/24');
    const c = parseCidr('10.1.0.0/16');
    expect(cidrContains(a, parseIPv4('10.0.255.255'))).toBe(true);
    expect(cidrContains(a, parseIPv4('10.1.0.0'))).toBe(false);
    expect([cidrsOverlap(a, b), cidrsOverlap(b, a), cidrsOverlap(a, c)]).toEqual([true, true, false]);
  });
});
