import { describe, expect, it } from 'vitest';
import { hostnameFile, hostsFile, resolvConf, upstreamNameservers } from './etc-files.js';

describe('etc files', () => {
  it('hosts has localhost and the container line with aliases', () => {
    const h = hostsFile({ hostname: 'web', ip: '10.88.0.2', aliases: ['w1'] });
    expect(h).toContain('127.0.0.1\tlocalhost\n');
    expect(h.endsWith('10.88.0.2\tweb w1\n')).toBe(true);
    expect(hostnameFile('web')).toBe('web\n');
  });
  it('resolv.conf drops loopback servers and keeps search/options', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\nnameserver ::1\n';
    const r = resolvConf(host);
    expect(r.nameservers).toEqual(['1.1.1.1']);
    expect(r.content).toBe('nameserver 1.1.1.1\nsearch corp\noptions edns0\n');
    expect(r.note).toBeUndefined();
    expect(upstreamNameservers(host)).toEqual(['1.1.1.1']);
  });
  it('uses the embedded DNS when given and says when nothing is left', () => {
    expect(resolvConf('nameserver 8.8.8.8', '10.89.0.1').content).toBe('nameserver 10.89.0.1\n');
    const r = resolvConf('nameserver 127.0.0.53\n');
    expect(r.nameservers).toEqual([]);
    expect(r.note).toMatch(/no usable nameserver/);
  });
});
