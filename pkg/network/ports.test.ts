import { describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import { formatPort, parsePortSpec, portsClash } from './ports.js';

describe('parsePortSpec', () => {
  it.each([
    ['8080:80', { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['80', { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }],
    ['53/udp', { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' }],
    ['127.0.0.1:8080:80/tcp', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['10.0.0.1::80/UDP', { hostIp: '10.0.0.1', hostPort: 0, containerPort: 80, protocol: 'udp' }],
    ['0.0.0.0:1:65535', { hostIp: '', hostPort: 1, containerPort: 65535, protocol: 'tcp' }],
  ])('%s', (spec, want) => {
    expect(parsePortSpec(spec)).toEqual(want);
  });

  it.each(['', 'a:80', '8080:', ':80', '70000:80', '80:0', '0:80', '8080:80/sctp', '1.2.3:80:80', '1:2:3:4', '300.1.1.1:80:80', '8000-8010:80'])(
    'rejects %j',
    (spec) => {
      let err: unknown;
      try {
        parsePortSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(isShoalError(err, 'InvalidArgument')).toBe(true);
    },
  );

  it('clash and format', () => {
    const a = parsePortSpec('8080:80');
    expect(portsClash(a, parsePortSpec('127.0.0.1:8080:81'))).toBe(true);
    expect(portsClash(a, parsePortSpec('8080:80/udp'))).toBe(false);
    expect(portsClash(parsePortSpec('10.0.0.1:8080:80'), parsePortSpec('10.0.0.2:8080:80'))).toBe(false);
    expect(formatPort(a)).toBe('0.0.0.0:8080->80/tcp');
  });
});
