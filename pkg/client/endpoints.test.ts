import { describe, expect, it } from 'vitest';
import { ControllerEndpoints } from './endpoints.js';

describe('ControllerEndpoints', () => {
  it('parses --controller, moves on only from the current one, and wraps around', () => {
    const e = ControllerEndpoints.parse(' http://a:6443/, http://b:6443 ,,');
    expect(e.urls).toEqual(['http://a:6443', 'http://b:6443']);
    expect(e.current).toBe('http://a:6443');
    e.unreachable('http://b:6443'); // not current: a stale report changes nothing
    expect(e.current).toBe('http://a:6443');
    e.unreachable('http://a:6443/');
    expect(e.current).toBe('http://b:6443');
    e.unreachable('http://b:6443');
    expect(e.current).toBe('http://a:6443');
    const one = ControllerEndpoints.parse('http://a:6443');
    one.unreachable('http://a:6443');
    expect(one.current).toBe('http://a:6443');
    expect(() => ControllerEndpoints.parse(' , ')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });
});
