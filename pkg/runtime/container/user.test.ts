import { describe, expect, it } from 'vitest';
import { parseGroup, parsePasswd, resolveUser } from './user.js';

const passwd = parsePasswd('root:x:0:0:root:/root:/bin/sh\n# comment\nbob:x:1000:1000::/home/bob:/bin/sh\nbroken\n');
const groups = parseGroup('root:x:0:\nbob:x:1000:\nwheel:x:10:bob,root\ndocker:x:999:bob\n');

describe('resolveUser', () => {
  it('defaults to root', () => {
    expect(resolveUser('', passwd, groups)).toEqual({ uid: 0, gid: 0, additionalGids: [10], home: '/root' });
  });
  it('resolves names with supplementary groups', () => {
    expect(resolveUser('bob', passwd, groups)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 999], home: '/home/bob' });
  });
  it('takes numeric ids even when absent from passwd', () => {
    expect(resolveUser('4242', passwd, groups)).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
    expect(resolveUser('1000:10', passwd, groups)).toEqual({ uid: 1000, gid: 10, additionalGids: [], home: '/home/bob' });
    expect(resolveUser('bob:docker', passwd, groups)).toMatchObject({ uid: 1000, gid: 999 });
  });
  it('fails clearly on unknown names', () => {
    expect(() => resolveUser('alice', passwd, groups)).toThrow(/unable to find user alice/);
    expect(() => resolveUser('bob:nogroup', passwd, groups)).toThrow(/unable to find group nogroup/);
  });
});
