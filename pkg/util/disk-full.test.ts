import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShoalError } from '../api/index.js';
import { explainNoSpace, explainingNoSpace, formatBinaryBytes, isNoSpace, mountOf } from './disk-full.js';

const MOUNTINFO = [
  '22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw',
  '30 22 0:26 / /tmp rw,nosuid shared:2 - tmpfs tmpfs rw,size=1024k',
  '31 30 7:3 / /tmp/shoal\\040data rw - ext4 /dev/loop3 rw',
  '32 30 0:27 / /tmp/shoal\\040data rw - tmpfs small rw,size=2048k',
  'garbage line',
  '',
].join('\n');

const enospc = (): NodeJS.ErrnoException => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC' });

describe('mountOf', () => {
  it('finds the longest mount point holding the path, the last mounted over one point, and decodes escapes', () => {
    expect(mountOf(MOUNTINFO, '/var/lib/shoal')).toEqual({ mountPoint: '/', fsType: 'ext4', source: '/dev/sda2' });
    expect(mountOf(MOUNTINFO, '/tmp/x')).toEqual({ mountPoint: '/tmp', fsType: 'tmpfs', source: 'tmpfs' });
    expect(mountOf(MOUNTINFO, '/tmp/shoal data/containers/a')).toEqual({ mountPoint: '/tmp/shoal data', fsType: 'tmpfs', source: 'small' });
    expect(mountOf(MOUNTINFO, '/tmp/shoal database')).toMatchObject({ mountPoint: '/tmp' });
    expect(mountOf('', '/x')).toBeUndefined();
  });
});

describe('explainNoSpace', () => {
  it('passes other errors through', async () => {
    const other = new Error('EIO');
    expect(await explainNoSpace(other, '/tmp/x')).toBe(other);
    expect(isNoSpace(other)).toBe(false);
  });

  it('names the filesystem and what was written, as a FailedPrecondition, also through causes', async () => {
    const path = join(tmpdir(), 'no-such-dir', 'state.json');
    const e = await explainNoSpace(new ShoalError('Unavailable', 'wrapped', { cause: enospc() }), path);
    expect(e).toBeInstanceOf(ShoalError);
    expect((e as ShoalError).code).toBe('FailedPrecondition');
    expect((e as ShoalError).message).toMatch(new RegExp(`^no space left on device while writing ${path}: the filesystem (mounted at|of) /\\S* \\(.*free of.*\\) is full`));
    // Explained once: kept as it is by an outer layer.
    expect(await explainNoSpace(e, '/elsewhere', 'pulling')).toBe(e);
    expect(isNoSpace(e)).toBe(true);
  });

  it('says quota for EDQUOT, and explainingNoSpace wraps a function', async () => {
    const quota = Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' });
    await expect(explainingNoSpace(tmpdir(), 'unpacking a layer', () => Promise.reject(quota))).rejects.toThrow(/^disk quota exceeded while unpacking a layer: /);
    await expect(explainingNoSpace(tmpdir(), 'x', () => Promise.resolve(7))).resolves.toBe(7);
  });

  it('formats sizes as df -h does', () => {
    expect(formatBinaryBytes(0)).toBe('0 B');
    expect(formatBinaryBytes(1536)).toBe('1.5 KiB');
    expect(formatBinaryBytes(4 * 1024 * 1024)).toBe('4.0 MiB');
  });
});
