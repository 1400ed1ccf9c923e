import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShoalError } from '../api/index.js';
import { emptyIpam, release, reserve, type IpamState } from './ipam.js';
import { DiskIpamStore, Ipam } from './ipam-store.js';

describe('ipam core', () => {
  it('skips network, gateway and broadcast', () => {
    let s = emptyIpam('10.0.0.0/29'); // .0 net, .1 gw, .7 bcast → .2-.6
    const ips: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = reserve(s, `c${i}`);
      s = r.state;
      ips.push(r.ip);
    }
    expect(ips).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    let err: unknown;
    try {
      reserve(s, 'c5');
    } catch (e) {
      err = e;
    }
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toContain('10.0.0.0/29');
  });

  it('is idempotent per container and next-fit after release', () => {
    let s = emptyIpam('10.0.0.0/24');
    const a = reserve(s, 'a');
    s = a.state;
    expect(reserve(s, 'a').ip).toBe(a.ip);
    s = reserve(s, 'b').state;
    s = release(s, 'a');
    const c = reserve(s, 'c');
    expect(c.ip).not.toBe(a.ip);
    expect(c.ip).toBe('10.0.0.4');
  });

  it('reuses released addresses after wrapping around', () => {
    let s = emptyIpam('10.0.0.0/30'); // only .2
    s = reserve(s, 'a').state;
    s = release(s, 'a');
    expect(reserve(s, 'b').ip).toBe('10.0.0.2');
  });

  it('never hands out an address twice (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), id: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('release' as const), id: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        let s: IpamState = emptyIpam('10.1.0.0/28'); // 13 usable
        for (const o of ops) {
          if (o.kind === 'release') s = release(s, `c${o.id}`);
          else {
            try {
              s = reserve(s, `c${o.id}`).state;
            } catch (e) {
              expect(isShoalError(e, 'Unavailable')).toBe(true);
              expect(Object.keys(s.leases).length).toBe(13);
            }
          }
          const ips = Object.values(s.leases);
          expect(new Set(ips).size).toBe(ips.length);
          for (const ip of ips) expect(['10.1.0.0', '10.1.0.1', '10.1.0.15']).not.toContain(ip);
        }
      }),
    );
  });
});

describe('Ipam on disk', () => {
  it('persists leases across instances (agent restart) and concurrent reserves do not collide', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-ipam-'));
    try {
      const first = new Ipam(new DiskIpamStore(dir));
      const ips = await Promise.all(['a', 'b', 'c', 'd'].map((id) => first.reserve('n1', '10.2.0.0/24', id)));
      expect(new Set(ips).size).toBe(4);
      const file = JSON.parse(await readFile(join(dir, 'network', 'ipam', 'n1.json'), 'utf8')) as IpamState;
      expect(Object.keys(file.leases).sort()).toEqual(['a', 'b', 'c', 'd']);
      await first.release('n1', 'b');
      const second = new Ipam(new DiskIpamStore(dir));
      expect(await second.reserve('n1', '10.2.0.0/24', 'a')).toBe(ips[0]);
      const e = await second.reserve('n1', '10.2.0.0/24', 'e');
      expect(ips).not.toContain(e);
      expect(await second.retain('n1', new Set(['a']))).toEqual(expect.arrayContaining(['c', 'd', 'e']));
      expect(Object.keys(await second.leases('n1'))).toEqual(['a']);
      await expect(second.reserve('n1', '10.3.0.0/24', 'z')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
