import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { readFileInRoot, type RootFile } from './read-in-root.js';

const isRoot = process.getuid?.() === 0;
const what = 'image evil:1';

let base = '';
let root = '';
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'shoal-in-root-'));
  root = join(base, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

const text = (r: RootFile) => (r.found ? r.data.toString() : undefined);
function rejection(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (err) {
    if (!isShoalError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a rejection');
}
const fdCount = () => readdirSync('/proc/self/fd').length;

describe('readFileInRoot: plain files', () => {
  it('reads a regular file and reports absent paths, as ENOENT and ENOTDIR would', () => {
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    expect(readFileInRoot(root, '/etc/passwd', { what })).toEqual({ found: true, data: Buffer.from('root:x:0:0::/root:/bin/sh\n'), resolved: '/etc/passwd' });
    expect(readFileInRoot(root, 'etc//./passwd', { what })).toMatchObject({ found: true, resolved: '/etc/passwd' });
    expect(readFileInRoot(root, '/etc/group', { what })).toEqual({ found: false, resolved: '/etc/group' });
    expect(readFileInRoot(root, '/etc/passwd/x', { what })).toEqual({ found: false, resolved: '/etc/passwd/x' });
    expect(readFileInRoot([], '/etc/passwd', { what })).toEqual({ found: false, resolved: '/etc/passwd' });
  });

  it('reads an empty file', () => {
    writeFileSync(join(root, 'etc/passwd'), '');
    expect(text(readFileInRoot(root, '/etc/passwd', { what }))).toBe('');
  });

  it('follows symlinks inside the root, relative and absolute', () => {
    mkdirSync(join(root, 'usr/share'), { recursive: true });
    writeFileSync(join(root, 'usr/share/passwd'), 'inside\n');
    symlinkSync('../usr/share/passwd', join(root, 'etc/passwd'));
    symlinkSync('/usr/share/passwd', join(root, 'etc/group'));
    expect(readFileInRoot(root, '/etc/passwd', { what })).toMatchObject({ found: true, resolved: '/usr/share/passwd' });
    expect(text(readFileInRoot(root, '/etc/group', { what }))).toBe('inside\n');
  });
});

describe('readFileInRoot: hostile trees', () => {
  it('a link to /dev/zero reads the root\'s /dev/zero: absent, or refused as a device (never the host\'s)', () => {
    symlinkSync('/dev/zero', join(root, 'etc/passwd'));
    expect(readFileInRoot(root, '/etc/passwd', { what })).toEqual({ found: false, resolved: '/dev/zero' });
    if (!isRoot) return;
    mkdirSync(join(root, 'dev'));
    execFileSync('mknod', [join(root, 'dev/zero'), 'c', '1', '5']);
    const err = rejection(() => readFileInRoot(root, '/etc/passwd', { what }));
    expect(err.code).toBe('InvalidArgument');
    expect(err.message).toBe('/etc/passwd in image evil:1 is a symlink to /dev/zero, a character device, not a regular file');
  });

  it('a link to the host\'s /etc/shadow reads the root\'s /etc/shadow or nothing', () => {
    symlinkSync('/etc/shadow', join(root, 'etc/passwd'));
    expect(readFileInRoot(root, '/etc/passwd', { what })).toEqual({ found: false, resolved: '/etc/shadow' });
    writeFileSync(join(root, 'etc/shadow'), 'the image\'s shadow\n');
    expect(text(readFileInRoot(root, '/etc/passwd', { what }))).toBe('the image\'s shadow\n');
  });

  it('../../../../etc/shadow cannot climb above the root', () => {
    symlinkSync('../../../../../../../../etc/shadow', join(root, 'etc/passwd'));
    expect(readFileInRoot(root, '/etc/passwd', { what })).toEqual({ found: false, resolved: '/etc/shadow' });
    expect(readFileInRoot(root, '/../../../../etc/shadow', { what })).toEqual({ found: false, resolved: '/etc/shadow' });
    writeFileSync(join(root, 'etc/shadow'), 'inside\n');
    expect(text(readFileInRoot(root, '/etc/passwd', { what }))).toBe('inside\n');
  });

  it('a symlinked intermediate directory pointing at a host path resolves in the root', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'passwd'), 'OUTSIDE\n');
    await rm(join(root, 'etc'), { recursive: true });
    symlinkSync(outside, join(root, 'etc'));
    expect(readFileInRoot(root, '/etc/passwd', { what })).toEqual({ found: false, resolved: `${outside}/passwd` });
    mkdirSync(join(root, outside), { recursive: true });
    writeFileSync(join(root, outside, 'passwd'), 'mirrored inside\n');
    expect(text(readFileInRoot(root, '/etc/passwd', { what }))).toBe('mirrored inside\n');
  });

  it('symlink loops and long chains stop at the hop limit', () => {
    symlinkSync('group', join(root, 'etc/passwd'));
    symlinkSync('passwd', join(root, 'etc/group'));
    symlinkSync('self', join(root, 'etc/self'));
    for (const p of ['/etc/passwd', '/etc/self']) {
      const err = rejection(() => readFileInRoot(root, p, { what }));
      expect(err.code).toBe('InvalidArgument');
      expect(err.message).toMatch(/more than 40 levels of symbolic links/);
    }
    // a chain of 5 links: fine with the default, refused with maxLinks 4
    writeFileSync(join(root, 'etc/l0'), 'end\n');
    for (let i = 1; i <= 5; i++) symlinkSync(`l${i - 1}`, join(root, `etc/l${i}`));
    expect(text(readFileInRoot(root, '/etc/l5', { what }))).toBe('end\n');
    expect((rejection(() => readFileInRoot(root, '/etc/l5', { what, maxLinks: 4 }))).code).toBe('InvalidArgument');
  });

  it('a link that expands itself (a -> a/a/a/...) stops at the lookup limit', () => {
    symlinkSync(`.${'/x'.repeat(500)}`, join(root, 'etc/x'));
    const err = rejection(() => readFileInRoot(root, '/etc/x', { what }));
    expect(err.code).toBe('InvalidArgument');
  });

  it('a directory is refused', () => {
    mkdirSync(join(root, 'etc/passwd'));
    const err = rejection(() => readFileInRoot(root, '/etc/passwd', { what }));
    expect(err).toEqual({ code: 'InvalidArgument', message: '/etc/passwd in image evil:1 is a directory, not a regular file' });
    expect((rejection(() => readFileInRoot(root, '/', { what }))).code).toBe('InvalidArgument');
  });

  it('a FIFO is refused without blocking', () => {
    execFileSync('mkfifo', [join(root, 'etc/passwd')]);
    const t0 = performance.now();
    const err = rejection(() => readFileInRoot(root, '/etc/passwd', { what }));
    expect(err).toEqual({ code: 'InvalidArgument', message: '/etc/passwd in image evil:1 is a FIFO, not a regular file' });
    expect(performance.now() - t0).toBeLessThan(1000);
  }, 5000);

  it('a huge sparse file is refused by its size, before reading; the cap is per call', () => {
    writeFileSync(join(root, 'etc/passwd'), '');
    truncateSync(join(root, 'etc/passwd'), 64 * 1024 ** 3);
    const err = rejection(() => readFileInRoot(root, '/etc/passwd', { what }));
    expect(err).toEqual({ code: 'TooLarge', message: '/etc/passwd in image evil:1 is larger than 4.0 MiB: 64.0 GiB' });
    writeFileSync(join(root, 'etc/group'), 'x'.repeat(100));
    expect(text(readFileInRoot(root, '/etc/group', { what, maxBytes: 100 }))).toHaveLength(100);
    expect((rejection(() => readFileInRoot(root, '/etc/group', { what, maxBytes: 99 }))).code).toBe('TooLarge');
    symlinkSync('group', join(root, 'etc/g2'));
    expect((rejection(() => readFileInRoot(root, '/etc/g2', { what, maxBytes: 99 }))).message).toMatch(/through a symlink to \/etc\/group/);
  });

  it('a socket is refused', async () => {
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(join(root, 'etc/passwd'), r));
    try {
      expect((rejection(() => readFileInRoot(root, '/etc/passwd', { what }))).message).toMatch(/is a socket, not a regular file/);
    } finally {
      srv.close();
    }
  });

  it('leaves no fd open, whatever the outcome', () => {
    writeFileSync(join(root, 'etc/passwd'), 'x\n');
    symlinkSync('loop', join(root, 'etc/loop'));
    mkdirSync(join(root, 'etc/dir'));
    const before = fdCount();
    for (let i = 0; i < 20; i++) {
      readFileInRoot(root, '/etc/passwd', { what });
      readFileInRoot(root, '/etc/absent', { what });
      rejection(() => readFileInRoot(root, '/etc/passwd', { what, maxBytes: 1 }));
      rejection(() => readFileInRoot(root, '/etc/loop', { what }));
      rejection(() => readFileInRoot(root, '/etc/dir', { what }));
    }
    expect(fdCount()).toBe(before);
  });
});

describe('readFileInRoot: layers (overlay lower dirs, top first)', () => {
  let top = '';
  let mid = '';
  let bottom = '';
  beforeEach(() => {
    top = join(base, 'top');
    mid = join(base, 'mid');
    bottom = join(base, 'bottom');
    for (const l of [top, mid, bottom]) mkdirSync(l);
  });

  it('the top layer\'s copy wins; a directory merges with lower layers', () => {
    for (const l of [mid, bottom]) mkdirSync(join(l, 'etc'));
    writeFileSync(join(bottom, 'etc/passwd'), 'bottom\n');
    writeFileSync(join(mid, 'etc/group'), 'mid\n');
    expect(readFileInRoot([top, mid, bottom], '/etc/passwd', { what })).toMatchObject({ found: true, data: Buffer.from('bottom\n') });
    writeFileSync(join(mid, 'etc/passwd'), 'mid\n');
    expect(text(readFileInRoot([top, mid, bottom], '/etc/passwd', { what }))).toBe('mid\n');
  });

  it('a symlink in one layer resolves in the union (its target in a lower layer)', () => {
    mkdirSync(join(top, 'etc'));
    symlinkSync('/usr/lib/passwd', join(top, 'etc/passwd'));
    mkdirSync(join(bottom, 'usr/lib'), { recursive: true });
    writeFileSync(join(bottom, 'usr/lib/passwd'), 'from the bottom\n');
    expect(readFileInRoot([top, mid, bottom], '/etc/passwd', { what })).toEqual({ found: true, data: Buffer.from('from the bottom\n'), resolved: '/usr/lib/passwd' });
  });

  it('whiteouts and non-directories hide lower layers', () => {
    if (!isRoot) return;
    for (const l of [top, bottom]) mkdirSync(join(l, 'etc'));
    writeFileSync(join(bottom, 'etc/passwd'), 'deleted\n');
    execFileSync('mknod', [join(top, 'etc/passwd'), 'c', '0', '0']);
    expect(readFileInRoot([top, bottom], '/etc/passwd', { what })).toEqual({ found: false, resolved: '/etc/passwd' });
    writeFileSync(join(mid, 'etc'), 'a file hides the directory below\n');
    expect(readFileInRoot([mid, bottom], '/etc/passwd', { what })).toEqual({ found: false, resolved: '/etc/passwd' });
  });

  it('a symlink in an upper layer that points out of the root finds nothing on the host', () => {
    mkdirSync(join(bottom, 'etc'));
    writeFileSync(join(bottom, 'etc/passwd'), 'bottom\n');
    symlinkSync(join(bottom, 'etc'), join(top, 'etc')); // an absolute host path: resolved in the union
    expect(readFileInRoot([top, bottom], '/etc/passwd', { what })).toEqual({ found: false, resolved: `${bottom}/etc/passwd` });
  });
});

describe('readFileInRoot: races', () => {
  /** A worker thread that swaps `a` and `b` (by renames through `tmp`) until told to stop; resolves once it swaps. */
  async function swapper(a: string, b: string, tmp: string): Promise<{ stop: () => Promise<number> }> {
    const w = new Worker(
      `const { renameSync } = require('node:fs');
       const { parentPort, workerData: [a, b, tmp] } = require('node:worker_threads');
       let stop = false, n = 0;
       parentPort.on('message', () => { stop = true; });
       (async function loop() {
         while (!stop) {
           for (let i = 0; i < 200; i++) { renameSync(a, tmp); renameSync(b, a); renameSync(tmp, b); n++; }
           if (n === 200) parentPort.postMessage('swapping');
           await new Promise((r) => setImmediate(r));
         }
         parentPort.postMessage(n);
       })();`,
      { eval: true, workerData: [a, b, tmp] },
    );
    await new Promise((r) => w.once('message', r));
    return {
      stop: async () => {
        const n = new Promise<number>((r) => w.once('message', r));
        w.postMessage('stop');
        const swaps = await n;
        await w.terminate();
        return swaps;
      },
    };
  }

  /** The fd count, once it is back to `want` (a worker's own fds close a little after it ends). */
  async function fdsSettle(want: number): Promise<number> {
    for (let i = 0; i < 50 && fdCount() !== want; i++) await new Promise((r) => setTimeout(r, 20));
    return fdCount();
  }

  it('an intermediate directory swapped with a symlink to the host never reads the host file', async () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'passwd'), 'OUTSIDE\n');
    writeFileSync(join(root, 'etc/passwd'), 'inside\n');
    symlinkSync(outside, join(root, 'etc.link'));
    const before = fdCount();
    const s = await swapper(join(root, 'etc'), join(root, 'etc.link'), join(root, 'etc.tmp'));
    const seen = new Map<string, number>();
    let naive = 0;
    try {
      // The race is real: a plain readFile in the same loop reads the host's file.
      for (let i = 0; i < 5000 && naive === 0; i++) if ((await readFile(join(root, 'etc/passwd'), 'utf8').catch(() => '')) === 'OUTSIDE\n') naive++;
      for (let i = 0; i < 2000; i++) {
        let k: string;
        try {
          const r = readFileInRoot(root, '/etc/passwd', { what });
          k = r.found ? r.data.toString() : 'absent';
        } catch (err) {
          k = isShoalError(err) ? err.code : String(err);
        }
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    } finally {
      expect(await s.stop()).toBeGreaterThan(0);
    }
    expect(naive).toBeGreaterThan(0);
    expect(seen.has('OUTSIDE\n')).toBe(false);
    expect([...seen.keys()].every((k) => ['inside\n', 'absent', 'Conflict'].includes(k))).toBe(true);
    expect(seen.get('inside\n')).toBeGreaterThan(0);
    expect(await fdsSettle(before)).toBe(before);
  }, 60_000);

  it('the file swapped with a FIFO or a link to a host file never blocks or reads the host', async () => {
    writeFileSync(join(root, 'etc/passwd'), 'inside\n');
    execFileSync('mkfifo', [join(root, 'etc/fifo')]);
    symlinkSync('/etc/hostname', join(root, 'etc/link'));
    const s1 = await swapper(join(root, 'etc/passwd'), join(root, 'etc/fifo'), join(root, 'etc/t1'));
    const seen = new Set<string>();
    try {
      for (let i = 0; i < 1000; i++) {
        try {
          const r = readFileInRoot(root, '/etc/passwd', { what });
          seen.add(r.found ? r.data.toString() : 'absent');
        } catch (err) {
          seen.add(isShoalError(err) ? err.code : String(err));
        }
      }
    } finally {
      await s1.stop();
    }
    const s2 = await swapper(join(root, 'etc/passwd'), join(root, 'etc/link'), join(root, 'etc/t2'));
    try {
      for (let i = 0; i < 1000; i++) {
        try {
          const r = readFileInRoot(root, '/etc/passwd', { what });
          seen.add(r.found ? r.data.toString() : 'absent');
        } catch (err) {
          seen.add(isShoalError(err) ? err.code : String(err));
        }
      }
    } finally {
      await s2.stop();
    }
    expect([...seen].every((k) => ['inside\n', 'absent', 'Conflict', 'InvalidArgument'].includes(k))).toBe(true);
  }, 60_000);
});
