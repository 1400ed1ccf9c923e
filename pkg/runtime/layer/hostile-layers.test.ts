import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { applyLayer, type ApplyLayerOptions } from './apply-layer.js';
import type { FsOps } from './fsops.js';
import { listing, sha256, streamOf, tarOf, type TarEntry } from './test-helpers.js';

/** A helper that must not be needed by these layers (none uses whiteouts in overlay mode or xattrs). */
const noFsops = (): FsOps => ({
  setxattr: () => Promise.reject(new Error('unexpected setxattr')),
  mknod: () => Promise.reject(new Error('unexpected mknod')),
  close: () => Promise.resolve(),
});

let base: string;
let target: string;
let outside: string;
let before: string[];

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'shoal-hostile-'));
  target = join(base, 'target');
  outside = join(base, 'outside');
  await mkdir(target);
  await mkdir(join(outside, 'dir'), { recursive: true });
  await writeFile(join(outside, 'secret'), 'do not touch\n');
  await writeFile(join(outside, 'dir', 'x'), 'inner\n');
  before = await listing(outside);
});

afterEach(async () => {
  // The sentinel tree outside the target is exactly as it was, whatever the layer did.
  expect(await listing(outside)).toEqual(before);
  expect((await readdir(base)).sort()).toEqual(['outside', 'target']);
  await rm(base, { recursive: true, force: true });
});

async function apply(entries: TarEntry[], opts: ApplyLayerOptions = {}): Promise<string> {
  try {
    await applyLayer(target, streamOf(await tarOf(entries)), { fsops: noFsops, ...opts });
    return 'ok';
  } catch (err) {
    return isShoalError(err) ? err.code : `non-shoal: ${String(err)}`;
  }
}

const file = (name: string, data = 'pwned\n'): TarEntry => ({ header: { name, type: 'file' }, data });
const dir = (name: string): TarEntry => ({ header: { name, type: 'directory' } });
const sym = (name: string, linkname: string): TarEntry => ({ header: { name, type: 'symlink', linkname } });
const hard = (name: string, linkname: string): TarEntry => ({ header: { name, type: 'link', linkname } });

describe('hostile layers: nothing is written outside the target', () => {
  it('rejects ../ paths', async () => {
    expect(await apply([file('../outside/secret')])).toBe('InvalidArgument');
    expect(await apply([file('../pwned')])).toBe('InvalidArgument');
    expect(await apply([file('./../../pwned')])).toBe('InvalidArgument');
  });

  it('rejects foo/../../x and a/../..', async () => {
    expect(await apply([dir('foo/'), file('foo/../../x')])).toBe('InvalidArgument');
    expect(await apply([file('a/../..')])).toBe('InvalidArgument');
    expect(await apply([sym('a/../../l', '/')])).toBe('InvalidArgument');
  });

  it('contains absolute paths inside the target', async () => {
    expect(await apply([file('/abs-file'), file(`${outside}/secret`), file('//double')])).toBe('ok');
    expect(await readFile(join(target, 'abs-file'), 'utf8')).toBe('pwned\n');
    expect(await readFile(join(target, outside.slice(1), 'secret'), 'utf8')).toBe('pwned\n');
    expect((await lstat(join(target, 'double'))).isFile()).toBe(true);
  });

  it('accepts ".." inside a name (a/..b is a valid name)', async () => {
    expect(await apply([file('a/..b'), file('..c'), file('d../e')])).toBe('ok');
    expect(await readFile(join(target, 'a', '..b'), 'utf8')).toBe('pwned\n');
    expect((await lstat(join(target, '..c'))).isFile()).toBe(true);
    expect((await lstat(join(target, 'd..', 'e'))).isFile()).toBe(true);
  });

  it('refuses a write through an absolute symlink', async () => {
    expect(await apply([sym('link', outside), file('link/secret')])).toBe('InvalidArgument');
    expect(await apply([sym('link2', '/tmp'), file('link2/file')])).toBe('InvalidArgument');
  });

  it('refuses a write through a relative symlink that escapes', async () => {
    expect(await apply([sym('a', '../../..'), file('a/x')])).toBe('InvalidArgument');
    expect(await apply([sym('b', '../outside'), dir('b/newdir/'), file('b/newdir/f')])).toBe('InvalidArgument');
  });

  it('refuses a write under a symlink to a directory, even one inside the target', async () => {
    expect(await apply([dir('sub/'), sym('d', 'sub'), file('d/file')])).toBe('InvalidArgument');
  });

  it('replaces a symlink by a file instead of writing through it', async () => {
    expect(await apply([sym('s', `${outside}/secret`), file('s', 'replaced\n')])).toBe('ok');
    const st = await lstat(join(target, 's'));
    expect(st.isFile()).toBe(true);
    expect(await readFile(join(target, 's'), 'utf8')).toBe('replaced\n');
  });

  it('replaces a symlink by a directory instead of following it', async () => {
    expect(await apply([sym('d', outside), dir('d/'), file('d/secret')])).toBe('ok');
    expect((await lstat(join(target, 'd'))).isDirectory()).toBe(true);
  });

  it('rejects hardlinks to outside files', async () => {
    expect(await apply([hard('h', '../outside/secret')])).toBe('InvalidArgument');
    expect(await apply([hard('h', `${outside}/secret`)])).toBe('InvalidArgument');
    expect(await apply([hard('h', '/etc/passwd')])).toBe('InvalidArgument');
    expect(await apply([hard('h', '../x')])).toBe('InvalidArgument');
  });

  it('rejects a hardlink to a symlink that points out, and through a symlinked directory', async () => {
    expect(await apply([sym('s', `${outside}/secret`), hard('h', 's')])).toBe('InvalidArgument');
    expect(await apply([sym('d', outside), hard('h', 'd/secret')])).toBe('InvalidArgument');
  });

  it('unlinks a hardlink before writing a file with its name', async () => {
    expect(await apply([file('f', 'original\n'), hard('h', 'f'), file('h', 'new\n')])).toBe('ok');
    expect(await readFile(join(target, 'f'), 'utf8')).toBe('original\n');
    expect(await readFile(join(target, 'h'), 'utf8')).toBe('new\n');
  });

  it('rejects bare and escaping whiteouts', async () => {
    expect(await apply([file('.wh.')])).toBe('InvalidArgument');
    expect(await apply([file('sub/.wh.')])).toBe('InvalidArgument');
    expect(await apply([file('.wh...')])).toBe('InvalidArgument');
    expect(await apply([file('.wh..')])).toBe('InvalidArgument');
    expect(await apply([file('../.wh.secret')])).toBe('InvalidArgument');
    expect(await apply([file('.wh.dir/file')])).toBe('InvalidArgument');
    expect(await apply([dir('.wh..wh..opq/')])).toBe('InvalidArgument');
  });

  it('refuses whiteouts and opaque markers under a symlink (delete mode)', async () => {
    await symlink(outside, join(target, 'lower-link'));
    expect(await apply([file('lower-link/.wh.secret')], { whiteoutMode: 'delete' })).toBe('InvalidArgument');
    expect(await apply([file('lower-link/.wh..wh..opq')], { whiteoutMode: 'delete' })).toBe('InvalidArgument');
    expect(await apply([file('lower-link/dir/.wh.x')], { whiteoutMode: 'delete' })).toBe('InvalidArgument');
  });

  it('refuses writes through a symlink already in the target (a lower layer)', async () => {
    await symlink(outside, join(target, 'lib'));
    expect(await apply([file('lib/secret')], { whiteoutMode: 'delete' })).toBe('InvalidArgument');
    expect(await apply([hard('h', 'lib/secret')], { whiteoutMode: 'delete' })).toBe('InvalidArgument');
  });

  it('replaces a directory by a file and a file by a directory', async () => {
    expect(await apply([dir('x/'), file('x/child'), file('x', 'now a file\n'), file('y', 'a file\n'), dir('y/'), file('y/c')])).toBe('ok');
    expect(await readFile(join(target, 'x'), 'utf8')).toBe('now a file\n');
    expect((await lstat(join(target, 'y'))).isDirectory()).toBe(true);
    expect((await lstat(join(target, 'y', 'c'))).isFile()).toBe(true);
  });

  it('refuses a path under a regular file', async () => {
    expect(await apply([file('f'), file('f/g')])).toBe('InvalidArgument');
  });

  it('stops a decompression bomb at the cap', async () => {
    const tarBytes = await tarOf([{ header: { name: 'zeros', type: 'file' }, data: Buffer.alloc(8 * 1024 * 1024) }]);
    const bomb = gzipSync(tarBytes, { level: 1 });
    expect(bomb.length).toBeLessThan(100 * 1024);
    let err: unknown;
    try {
      await applyLayer(target, streamOf(bomb), { maxUncompressedBytes: 1024 * 1024, fsops: noFsops });
    } catch (e) {
      err = e;
    }
    expect(isShoalError(err, 'TooLarge')).toBe(true);
    expect((err as Error).message).toContain('1 MiB decompression limit');
  });

  it('stops a layer of many tiny entries at the entry cap, naming what the cap belongs to', async () => {
    const many = Array.from({ length: 50 }, (_, i) => file(`f${i}`));
    let err: unknown;
    try {
      await applyLayer(target, streamOf(await tarOf(many)), { maxEntries: 20, limitName: 'image reg/app:1', fsops: noFsops });
    } catch (e) {
      err = e;
    }
    expect(isShoalError(err, 'TooLarge')).toBe(true);
    expect((err as Error).message).toBe('image reg/app:1 has more than 20 files, directories and links');
    expect((await applyLayer(target, streamOf(await tarOf(many.slice(0, 20))), { maxEntries: 20, fsops: noFsops })).entries).toBe(20);
  });

  it('fails with DataLoss on a diff_id mismatch', async () => {
    const tarBytes = await tarOf([file('a')]);
    const wrong = sha256(Buffer.from('other'));
    expect(await apply([file('a')], { expectedDiffId: wrong })).toBe('DataLoss');
    const r = await applyLayer(target, streamOf(tarBytes), { expectedDiffId: sha256(tarBytes), fsops: noFsops });
    expect(r.diffId).toBe(sha256(tarBytes));
  });

  it('rejects garbage, truncated archives and unsupported compression clearly', async () => {
    const code = async (b: Buffer): Promise<string> => {
      try {
        await applyLayer(target, streamOf(b), { fsops: noFsops });
        return 'ok';
      } catch (err) {
        return isShoalError(err) ? err.code : `non-shoal: ${String(err)}`;
      }
    };
    expect(await code(Buffer.from('this is not a tar archive at all'.repeat(40)))).toBe('InvalidArgument');
    const t = await tarOf([file('a', 'x'.repeat(5000))]);
    expect(await code(t.subarray(0, 1000))).toBe('InvalidArgument');
    expect(await code(gzipSync(t).subarray(0, 100))).toBe('InvalidArgument');
    expect(await code(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]))).toBe('Unimplemented');
  });

  it('skips device nodes and FIFOs unless allowed', async () => {
    const r = await applyLayer(
      target,
      streamOf(
        await tarOf([
          { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 } },
          { header: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 } },
          { header: { name: 'fifo', type: 'fifo' } },
        ]),
      ),
      { fsops: noFsops },
    );
    expect(r.skipped.devices).toBe(3);
    expect(await readdir(target)).toEqual([]);
  });
});
