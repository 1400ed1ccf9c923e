import { execFileSync } from 'node:child_process';
import { link, lstat, lutimes, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { applyLayer } from './apply-layer.js';
import type { FsOps } from './fsops.js';
import { ensureFsops, getXattr, hasPython, isRoot, listing, sha256, streamOf, tarOf, type TarEntry } from './test-helpers.js';

let dir: string;
let target: string;
let fsopsBin: string | undefined;

beforeAll(() => {
  fsopsBin = ensureFsops();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-layer-'));
  target = join(dir, 'target');
  await mkdir(target);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MTIME = new Date(1_500_000_000_000);
const file = (name: string, data = 'data\n', extra: Partial<TarEntry['header']> = {}): TarEntry => ({
  header: { name, type: 'file', mtime: MTIME, ...extra },
  data,
});
const dirEntry = (name: string, extra: Partial<TarEntry['header']> = {}): TarEntry => ({ header: { name, type: 'directory', mtime: MTIME, ...extra } });

/** Records helper calls and performs none (for tests without root). */
function recordingFsops(calls: string[]): () => FsOps {
  return () => ({
    setxattr: (p, name, value) => {
      calls.push(`setxattr ${p.slice(target.length)} ${name}=${Buffer.from(value).toString()}`);
      return Promise.resolve();
    },
    mknod: (p, kind, mode, major, minor) => {
      calls.push(`mknod ${p.slice(target.length)} ${kind} ${mode.toString(8)} ${major}:${minor}`);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
}

describe('applyLayer', () => {
  it('unpacks files, directories, symlinks and hardlinks with modes and times, and reports the diff_id', async () => {
    const tarBytes = await tarOf([
      dirEntry('./'),
      dirEntry('./bin/', { mode: 0o755 }),
      file('./bin/tool', '#!/bin/sh\n', { mode: 0o4755 }),
      file('./bin/sgid', 'x', { mode: 0o2711 }),
      dirEntry('./tmp/', { mode: 0o1777 }),
      dirEntry('./ro/', { mode: 0o555 }),
      file('./ro/inside', 'written before the dir became read-only'),
      { header: { name: './bin/sh', type: 'symlink', linkname: '/bin/busybox', mtime: MTIME } },
      { header: { name: './bin/rel', type: 'symlink', linkname: 'tool', mtime: MTIME } },
      { header: { name: './bin/hard', type: 'link', linkname: './bin/tool' } },
      file(`deep/${'d'.repeat(120)}/${'f'.repeat(150)}`, 'long name'),
    ]);
    const padded = Buffer.concat([tarBytes, Buffer.alloc(10240)]); // tar(1) pads to its record size
    const progress: number[] = [];
    const r = await applyLayer(target, streamOf(padded, 1000), { fsops: recordingFsops([]), onProgress: (p) => progress.push(p.entries) });
    expect(r.diffId).toBe(sha256(padded));
    expect(r.size).toBe(padded.length);
    expect(r.compression).toBe('none');
    expect(r.entries).toBe(11);
    expect(progress.at(-1)).toBe(11);

    const tool = await stat(join(target, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.mtimeMs).toBe(MTIME.getTime());
    expect((await stat(join(target, 'bin/sgid'))).mode & 0o7777).toBe(0o2711);
    expect((await stat(join(target, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await stat(join(target, 'ro'))).mode & 0o7777).toBe(0o555);
    expect((await stat(join(target, 'bin'))).mtimeMs).toBe(MTIME.getTime());
    expect((await stat(join(target, 'ro'))).mtimeMs).toBe(MTIME.getTime());
    expect(await readFile(join(target, 'ro/inside'), 'utf8')).toContain('written before');
    expect(await readlink(join(target, 'bin/sh'))).toBe('/bin/busybox');
    expect((await lstat(join(target, 'bin/sh'))).mtimeMs).toBe(MTIME.getTime());
    expect(await readlink(join(target, 'bin/rel'))).toBe('tool');
    const hard = await stat(join(target, 'bin/hard'));
    expect(hard.ino).toBe(tool.ino);
    expect(tool.nlink).toBe(2);
    expect(await readFile(join(target, 'deep', 'd'.repeat(120), 'f'.repeat(150)), 'utf8')).toBe('long name');
  });

  it('computes the diff_id of the uncompressed stream of a gzip layer', async () => {
    const tarBytes = await tarOf([file('a', 'hello'), file('b', 'world')]);
    const gz = gzipSync(tarBytes);
    const r = await applyLayer(target, streamOf(gz, 17), { expectedDiffId: sha256(tarBytes), fsops: recordingFsops([]) });
    expect(r).toMatchObject({ diffId: sha256(tarBytes), size: tarBytes.length, compression: 'gzip' });
    expect(await readFile(join(target, 'b'), 'utf8')).toBe('world');
  });

  it('merges a directory entry into an existing directory, keeping its content', async () => {
    await mkdir(join(target, 'etc'));
    await writeFile(join(target, 'etc', 'old'), 'lower');
    await applyLayer(target, streamOf(await tarOf([dirEntry('etc/', { mode: 0o700 }), file('etc/new')])), { fsops: recordingFsops([]), whiteoutMode: 'delete' });
    expect((await readdir(join(target, 'etc'))).sort()).toEqual(['new', 'old']);
    expect((await stat(join(target, 'etc'))).mode & 0o777).toBe(0o700);
  });

  it('turns whiteouts into 0:0 char devices and opaque markers into trusted.overlay.opaque (overlay mode, recorded)', async () => {
    const calls: string[] = [];
    await applyLayer(
      target,
      streamOf(await tarOf([dirEntry('etc/'), file('etc/.wh.passwd', ''), dirEntry('var/'), file('var/.wh..wh..opq', ''), file('var/new'), file('.wh..wh.plnk', ''), file('kept'), file('.wh.kept', '')])),
      { fsops: recordingFsops(calls), ownership: 'ignore' },
    );
    expect(calls).toEqual(['mknod /etc/passwd c 0 0:0', 'setxattr /var trusted.overlay.opaque=y']);
    // A whiteout hides lower layers only: the same layer's file stays.
    expect(await readFile(join(target, 'kept'), 'utf8')).toBe('data\n');
  });

  it('deletes whited-out paths and empties opaque directories of lower content (delete mode)', async () => {
    await mkdir(join(target, 'etc'), { recursive: true });
    await writeFile(join(target, 'etc', 'passwd'), 'lower');
    await writeFile(join(target, 'etc', 'group'), 'lower');
    await mkdir(join(target, 'var', 'cache', 'sub'), { recursive: true });
    await writeFile(join(target, 'var', 'cache', 'sub', 'f'), 'lower');
    await writeFile(join(target, 'var', 'cache', 'g'), 'lower');
    await mkdir(join(target, 'gone-dir', 'x'), { recursive: true });
    const calls: string[] = [];
    await applyLayer(
      target,
      streamOf(
        await tarOf([
          file('etc/.wh.passwd', ''),
          file('.wh.gone-dir', ''),
          file('.wh.not-there', ''),
          dirEntry('var/cache/'),
          file('var/cache/early'),
          file('var/cache/.wh..wh..opq', ''),
          file('var/cache/late'),
        ]),
      ),
      { fsops: recordingFsops(calls), whiteoutMode: 'delete' },
    );
    expect(calls).toEqual([]);
    expect(await readdir(join(target, 'etc'))).toEqual(['group']);
    expect((await readdir(target)).sort()).toEqual(['etc', 'var']);
    expect((await readdir(join(target, 'var', 'cache'))).sort()).toEqual(['early', 'late']);
  });

  it('applies user.* xattrs through the helper and skips the namespaces it must not set', async () => {
    const calls: string[] = [];
    const r = await applyLayer(
      target,
      streamOf(
        await tarOf([
          file('f', 'x', { pax: { 'SCHILY.xattr.user.comment': 'hello', 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.system.posix_acl_access': 'x' } }),
        ]),
      ),
      { fsops: recordingFsops(calls), privileged: true },
    );
    expect(calls).toEqual(['setxattr /f user.comment=hello']);
    expect(r.skipped.xattrs).toBe(2);
  });

  it('is canceled by its signal', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await applyLayer(target, streamOf(await tarOf([file('a')])), { signal: ac.signal }).catch((e: unknown) => e);
    expect(isShoalError(err, 'Canceled')).toBe(true);
  });
});

describe.skipIf(!isRoot)('applyLayer as root with shoal-fsops (skipped: needs root for chown, mknod and trusted.* xattrs)', () => {
  it('preserves owners, creates devices and FIFOs when allowed, and sets xattrs', async () => {
    if (fsopsBin === undefined) throw new Error('native/build/shoal-fsops could not be built (make native)');
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_net_bind_service+ep
    const r = await applyLayer(
      target,
      streamOf(
        await tarOf([
          dirEntry('home/', { uid: 1000, gid: 1000, mode: 0o750 }),
          file('home/owned', 'x', { uid: 1000, gid: 100, mode: 0o4750 }),
          { header: { name: 'home/link', type: 'symlink', linkname: 'owned', uid: 1001, gid: 1001 } },
          { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
          { header: { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 } },
          { header: { name: 'run/fifo', type: 'fifo', mode: 0o620 } },
          file('bin/ping', 'elf', { mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap.toString('latin1'), 'SCHILY.xattr.user.note': 'ok' } }),
          file('trusted', 'x', { pax: { 'SCHILY.xattr.trusted.shoal': 'yes' } }),
        ]),
      ),
      { allowDevices: true, ownership: 'preserve' },
    );
    expect(r.skipped.devices).toBe(0);
    const home = await stat(join(target, 'home'));
    expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    const owned = await stat(join(target, 'home/owned'));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 100, 0o4750]);
    const link = await lstat(join(target, 'home/link'));
    expect([link.uid, link.gid]).toEqual([1001, 1001]);
    const nul = await lstat(join(target, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe((1 << 8) | 3);
    expect(nul.mode & 0o7777).toBe(0o666);
    const loop = await lstat(join(target, 'dev/loop0'));
    expect(loop.isBlockDevice()).toBe(true);
    expect(loop.gid).toBe(6);
    const fifo = await lstat(join(target, 'run/fifo'));
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode & 0o7777).toBe(0o620);
    if (hasPython()) {
      // The capability bytes are all below 0x80, so they survive tar-stream's UTF-8 decoding.
      expect(getXattr(join(target, 'bin/ping'), 'security.capability')?.equals(cap)).toBe(true);
      expect(getXattr(join(target, 'bin/ping'), 'user.note')?.toString()).toBe('ok');
      expect(getXattr(join(target, 'trusted'), 'trusted.shoal')?.toString()).toBe('yes');
    }
  });

  it('writes overlayfs whiteouts and opaque directories for real', async () => {
    if (fsopsBin === undefined) throw new Error('native/build/shoal-fsops could not be built (make native)');
    await applyLayer(target, streamOf(await tarOf([dirEntry('etc/'), file('etc/.wh.passwd', ''), dirEntry('var/'), file('var/.wh..wh..opq', ''), file('var/new')])));
    const wh = await lstat(join(target, 'etc/passwd'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(await readFile(join(target, 'var/new'), 'utf8')).toBe('data\n');
    if (hasPython()) expect(getXattr(join(target, 'var'), 'trusted.overlay.opaque')?.toString()).toBe('y');
  });

  it('names the path when the helper fails', async () => {
    if (fsopsBin === undefined) throw new Error('native/build/shoal-fsops could not be built (make native)');
    const err = await applyLayer(target, streamOf(await tarOf([file('f', 'x', { pax: { 'SCHILY.xattr.user.bad': 'x'.repeat(70_000) } })])), {}).catch((e: unknown) => e);
    expect(isShoalError(err)).toBe(true);
    expect((err as Error).message).toContain('/f');
  });
});

describe('interoperability with GNU tar', () => {
  const hasTar = (() => {
    try {
      execFileSync('tar', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasTar).each(['gnu', 'pax'])('unpacks a tree archived by tar --format=%s to the same tree (skipped without tar)', async (format) => {
    const src = join(dir, 'src');
    const long = 'x'.repeat(90);
    await mkdir(join(src, long, long), { recursive: true });
    await mkdir(join(src, 'bin'));
    await writeFile(join(src, long, long, 'file-with-a-long-path'), 'deep\n');
    await writeFile(join(src, 'bin', 'tool'), 'tool\n', { mode: 0o755 });
    await link(join(src, 'bin', 'tool'), join(src, 'bin', 'tool2'));
    await symlink('tool', join(src, 'bin', 'sh'));
    await writeFile(join(src, 'empty'), '');
    // tar --format=gnu stores whole seconds: use whole-second times everywhere.
    for (const p of ['bin/tool', 'empty', `${long}/${long}/file-with-a-long-path`, `${long}/${long}`, long, 'bin', '.']) {
      await utimes(join(src, p), 1_400_000_000, 1_400_000_000);
    }
    await lutimes(join(src, 'bin', 'sh'), 1_400_000_000, 1_400_000_000);
    const archive = join(dir, `layer.${format}.tar`);
    execFileSync('tar', ['--format', format, '-C', src, '-cf', archive, '.'], { stdio: 'ignore' });
    const bytes = await readFile(archive);
    const r = await applyLayer(target, streamOf(bytes, 3000), { fsops: recordingFsops([]), ownership: 'ignore' });
    expect(r.diffId).toBe(sha256(bytes));
    const want = await listing(src);
    expect(want.length).toBe(8);
    expect(await listing(target)).toEqual(want);
  });
});
