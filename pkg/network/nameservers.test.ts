import { describe, expect, it } from 'vitest';
import { resolvConfFile } from '../runtime/index.js';
import { containerNameservers, upstreamNameservers } from './nameservers.js';

describe('nameservers', () => {
  it('drops loopback servers', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\nnameserver ::1\nnameserver 0.0.0.0\n';
    expect(upstreamNameservers(host)).toEqual(['1.1.1.1']);
    expect(containerNameservers(host)).toEqual(['1.1.1.1']);
    expect(resolvConfFile(host, containerNameservers(host))).toBe('nameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\n');
  });
  it('uses the embedded DNS when given, and leaves none when the host has only loopback ones', () => {
    expect(containerNameservers('nameserver 8.8.8.8', '10.89.0.1')).toEqual(['10.89.0.1']);
    expect(resolvConfFile('nameserver 8.8.8.8', containerNameservers('nameserver 8.8.8.8', '10.89.0.1'))).toBe('nameserver 10.89.0.1\n');
    expect(containerNameservers('nameserver 127.0.0.53\n')).toEqual([]);
  });
});
