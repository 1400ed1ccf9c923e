import { lstat, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { NativeFsOps, errorFromStderr, findFsopsBinary } from './fsops.js';
import { ensureFsops, getXattr, hasPython, isRoot } from './test-helpers.js';

describe('errorFromStderr', () => {
  it('maps the errno name of the helper line to a code and keeps the line', () => {
    const e = errorFromStderr('shoal-fsops: mknod /x/y: EPERM: Operation not permitted\n', 1);
    expect(e.code).toBe('PermissionDenied');
    expect(e.message).toBe('shoal-fsops: mknod /x/y: EPERM: Operation not permitted');
    expect(errorFromStderr('shoal-fsops: setxattr /a: ENOTSUP: Operation not supported', 1).code).toBe('FailedPrecondition');
    expect(errorFromStderr('', 2).code).toBe('Internal');
  });
});

describe('findFsopsBinary', () => {
  it('resolves under the package root, or takes an explicit path', () => {
    expect(findFsopsBinary()).toMatch(/\/native\/build\/shoal-fsops$/);
    expect(findFsopsBinary('/opt/x')).toBe('/opt/x');
  });
});

describe('NativeFsOps', () => {
  let dir: string;
  let bin: string | undefined;
  beforeAll(() => {
    bin = ensureFsops();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-fsops-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails clearly when the helper is missing', async () => {
    const ops = new NativeFsOps(join(dir, 'no-such-helper'));
    const err = await ops.mknod(join(dir, 'p'), 'p', 0o644, 0, 0).catch((e: unknown) => e);
    expect(isShoalError(err, 'FailedPrecondition')).toBe(true);
    await ops.close();
  });

  it('runs a batch of operations in one process and reports the first failure with its path', async () => {
    if (bin === undefined) throw new Error('native/build/shoal-fsops could not be built (make native)');
    const ops = new NativeFsOps(bin);
    await writeFile(join(dir, 'f'), 'x');
    await ops.mknod(join(dir, 'fifo'), 'p', 0o640, 0, 0);
    await ops.setxattr(join(dir, 'f'), 'user.shoal', Buffer.from([0x00, 0xff, 0x41]));
    await symlink('/nonexistent', join(dir, 'l'));
    const st = await lstat(join(dir, 'fifo'));
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640);
    if (hasPython()) expect(getXattr(join(dir, 'f'), 'user.shoal')?.equals(Buffer.from([0x00, 0xff, 0x41]))).toBe(true);
    const err = await ops.mknod(join(dir, 'fifo'), 'p', 0o640, 0, 0).catch((e: unknown) => e);
    expect(isShoalError(err, 'AlreadyExists')).toBe(true);
    expect((err as Error).message).toContain(join(dir, 'fifo'));
    // After a failure the batch is over: later operations fail with the same error.
    expect(await ops.setxattr(join(dir, 'f'), 'user.x', Buffer.from('y')).catch((e: unknown) => e)).toBe(err);
    await expect(ops.close()).rejects.toBe(err);
  });

  it.skipIf(!isRoot)('creates character devices (root)', async () => {
    if (bin === undefined) throw new Error('native/build/shoal-fsops could not be built (make native)');
    const ops = new NativeFsOps(bin);
    await ops.mknod(join(dir, 'zero'), 'c', 0o666, 1, 5);
    await ops.close();
    const st = await lstat(join(dir, 'zero'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe((1 << 8) | 5);
  });
});
