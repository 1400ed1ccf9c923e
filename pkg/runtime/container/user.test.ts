import { mkdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { parseGroup, parsePasswd, resolveImageUser, resolveUser } from './user.js';

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

describe('resolveImageUser (the image\'s files, read in its root)', () => {
  let base = '';
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-user-'));
    mkdirSync(join(base, 'top/etc'), { recursive: true });
    mkdirSync(join(base, 'bottom/etc'), { recursive: true });
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });
  const layers = () => [join(base, 'top'), join(base, 'bottom')];

  it('reads passwd and group through the layers', async () => {
    writeFileSync(join(base, 'bottom/etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n');
    writeFileSync(join(base, 'top/etc/group'), 'bob:x:1000:\nwheel:x:10:bob\n');
    expect(await resolveImageUser('bob', layers(), 'app:1')).toEqual({ uid: 1000, gid: 1000, additionalGids: [10], home: '/home/bob' });
    expect(await resolveImageUser('', [], 'scratch')).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });

  it('a passwd linking to /dev/zero or a host file: the user is not found, and the error says why', async () => {
    symlinkSync('/dev/zero', join(base, 'top/etc/passwd'));
    const err = await resolveImageUser('bob', layers(), 'evil:1').catch((e: unknown) => e);
    expect(isShoalError(err, 'Invalid')).toBe(true);
    expect((err as Error).message).toBe(
      'unable to find user bob: no matching entries in passwd file (/etc/passwd in image evil:1 is a symlink to /dev/zero, which the image does not have)',
    );
    rmSync(join(base, 'top/etc/passwd'));
    symlinkSync('/etc/passwd', join(base, 'top/etc/group')); // the host's /etc/passwd has root, the image's leads nowhere
    symlinkSync('../../../../../../etc/hostname', join(base, 'top/etc/passwd'));
    expect(await resolveImageUser('0:root', layers(), 'evil:1').catch((e: unknown) => (e as Error).message)).toBe(
      'unable to find group root: no matching entries in group file (/etc/passwd in image evil:1 is a symlink to /etc/hostname, which the image does not have; ' +
        '/etc/group in image evil:1 is a symlink to /etc/hostname, which the image does not have)',
    );
    expect(await resolveImageUser('1000', layers(), 'evil:1')).toEqual({ uid: 1000, gid: 0, additionalGids: [], home: '/' });
  });

  it('a passwd that is a directory or larger than 4 MiB fails the resolution', async () => {
    mkdirSync(join(base, 'top/etc/passwd'));
    expect(await resolveImageUser('', layers(), 'evil:1').catch((e: unknown) => (e as Error).message)).toBe(
      '/etc/passwd in image evil:1 is a directory, not a regular file',
    );
    rmSync(join(base, 'top/etc/passwd'), { recursive: true });
    writeFileSync(join(base, 'top/etc/passwd'), '');
    truncateSync(join(base, 'top/etc/passwd'), 4 * 1024 * 1024 + 1);
    const err = await resolveImageUser('', layers(), 'evil:1').catch((e: unknown) => e);
    expect(isShoalError(err, 'TooLarge')).toBe(true);
  });
});
