/**
 * Reading a file of an image's or a container's content from the host, as the container would
 * see it and nothing else (docs/security.md, "Image content").
 *
 * `readFileInRoot(layers, path)` resolves `path` in the union of `layers` (overlay lower dirs,
 * top first, as the snapshotter lays them out; one directory for a plain root) with openat2's
 * RESOLVE_IN_ROOT semantics: an absolute symlink starts again at the root, `..` never climbs
 * above it, at most `maxLinks` symlinks are followed. Node has no openat, so the walk holds an
 * O_PATH fd per directory and looks names up through `/proc/self/fd/<dir>/<name>` without
 * following the last component: every lookup is relative to a directory already opened inside
 * the root, and `..` pops that stack instead of asking the kernel. A rename or a symlink swap
 * while the walk runs (a running container changing its upper dir) can make it fail (Conflict)
 * or find nothing, never read elsewhere.
 *
 * The file is then opened O_PATH|O_NOFOLLOW, must be a regular file no larger than `maxBytes`
 * (checked with fstat before anything is read: a device, a FIFO, a socket or a directory is
 * refused without being opened for reading, so nothing blocks and no device's open runs),
 * reopened for reading through its O_PATH fd (O_NONBLOCK|O_NOCTTY), checked to be the same
 * inode and, by readlink of /proc/self/fd, to lie under the layer's root; at most `maxBytes`
 * are read.
 *
 * Overlay semantics: a 0:0 character device is a whiteout (the path does not exist); a
 * directory merges with the same directory of lower layers down to the first layer where that
 * name is not a directory. Opaque markers (the `trusted.overlay.opaque` xattr, which Node cannot
 * read) are not consulted: a name an opaque directory hides can be found in a lower layer of
 * the same image, never outside the layers.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { ShoalError, type ErrorCode } from '../../api/index.js';
import { formatBinaryBytes } from '../../util/index.js';

/** O_PATH is missing from fs.constants; this is its value on every Linux architecture Node runs on (asm-generic). */
const O_PATH = 0o10000000;
const { O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_RDONLY } = constants;

export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** As the kernel's MAXSYMLINKS. */
export const DEFAULT_MAX_LINKS = 40;
/** Lookups per resolution (a symlink can expand to thousands of components), and directory depth: far above any real path. */
const MAX_LOOKUPS = 1024;
const MAX_DEPTH = 128;

export interface ReadInRootOptions {
  /** What the root is, for error messages: `image busybox:latest`, `container web`. */
  what: string;
  /** Larger files are refused (TooLarge); default 4 MiB. */
  maxBytes?: number;
  /** Symlinks followed at most; default 40. */
  maxLinks?: number;
}

export type RootFile =
  /** `resolved` is the path inside the root after symlinks (`/etc/passwd` → `/usr/share/passwd`). */
  | { found: true; data: Buffer; resolved: string }
  /** The path does not exist in the root (ENOENT, ENOTDIR or a whiteout), as far as `resolved`. */
  | { found: false; resolved: string };

interface LayerDir {
  layer: number;
  fd: number;
}
/** One directory of the union: the same path in each layer that has it as a directory, top first. */
interface MergedDir {
  name: string;
  dirs: LayerDir[];
}
interface Leaf {
  at: LayerDir;
  name: string;
  st: Stats;
}

/**
 * Reads `path` of the root made of `layers` (top first); see the file header for the rules.
 * Synchronous on purpose: a resolution is a few dozen system calls on local directories, none of
 * which can block (O_PATH opens, lstat, readlink, the read of a regular file of at most
 * `maxBytes`); as thread-pool round trips they cost several times more (docs/security.md).
 */
export function readFileInRoot(layers: string | readonly string[], path: string, opts: ReadInRootOptions): RootFile {
  const walk = new Walk(path, opts);
  try {
    walk.openRoots(typeof layers === 'string' ? [layers] : layers);
    return walk.run();
  } catch (err) {
    throw walk.explain(err);
  } finally {
    walk.close();
  }
}

/** One resolution: the stack of merged directories from the root down, each holding its O_PATH fds. */
class Walk {
  private readonly stack: MergedDir[] = [];
  /** Real paths of the layer roots (readlink of their fds). */
  private rootPaths: string[] = [];
  /** The leaf's fds. */
  private readonly files: number[] = [];
  private readonly maxBytes: number;
  private readonly maxLinks: number;
  private readonly asked: string;

  constructor(
    path: string,
    private readonly o: ReadInRootOptions,
  ) {
    this.maxBytes = o.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.maxLinks = o.maxLinks ?? DEFAULT_MAX_LINKS;
    this.asked = display([], components(path));
  }

  openRoots(layers: readonly string[]): void {
    const root: MergedDir = { name: '', dirs: [] };
    this.stack.push(root);
    for (const [layer, l] of layers.entries()) {
      try {
        root.dirs.push({ layer, fd: openSync(l, O_PATH | O_DIRECTORY) });
      } catch (err) {
        throw new ShoalError('Internal', `reading ${this.subject()}: cannot open its layer ${l}: ${(err as Error).message}`, { cause: err });
      }
    }
    try {
      this.rootPaths = root.dirs.map((d) => readlinkSync(`/proc/self/fd/${d.fd}`));
    } catch (err) {
      // Without /proc every lookup below would look like ENOENT.
      throw new ShoalError('Internal', `reading ${this.subject()}: /proc/self/fd is not usable: ${(err as Error).message}`, { cause: err });
    }
  }

  run(): RootFile {
    const queue = components(this.asked);
    let links = 0;
    let lookups = 0;
    let leaf: Leaf | undefined;
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === '..') {
        if (this.stack.length > 1) closeDir(this.stack.pop()!);
        continue;
      }
      if (++lookups > MAX_LOOKUPS || this.stack.length > MAX_DEPTH) throw this.error('InvalidArgument', `takes more than ${MAX_LOOKUPS} lookups or ${MAX_DEPTH} levels to resolve`);
      const found = this.lookup(this.stack.at(-1)!, name);
      if (found === undefined) return this.absent([name, ...queue]);
      if ('dirs' in found) {
        this.stack.push(found);
        continue;
      }
      if (found.st.isSymbolicLink()) {
        if (++links > this.maxLinks) throw this.error('InvalidArgument', `has more than ${this.maxLinks} levels of symbolic links (a loop?)`);
        const target = readlinkSync(at(found.at, name));
        if (target === '') return this.absent([name, ...queue]);
        if (target.startsWith('/')) this.stack.splice(1).forEach(closeDir);
        queue.unshift(...components(target));
        continue;
      }
      if (queue.length > 0) return this.absent([name, ...queue]); // a file used as a directory
      leaf = found;
    }
    if (leaf === undefined) throw this.notRegular('a directory', display(this.stack, []));
    const resolved = display(this.stack, [leaf.name]);
    return { found: true, data: this.read(leaf, resolved), resolved };
  }

  private absent(rest: string[]): RootFile {
    return { found: false, resolved: display(this.stack, rest) };
  }

  /** `name` in the merged directory: a leaf (file, symlink, device...), a merged directory, or undefined (absent or whited out). */
  private lookup(dir: MergedDir, name: string): Leaf | MergedDir | undefined {
    let i = 0;
    let st: Stats | undefined;
    for (; i < dir.dirs.length && st === undefined; i++) st = lstatAt(dir.dirs[i]!, name);
    if (st === undefined || isWhiteout(st)) return undefined;
    const top = dir.dirs[i - 1]!;
    if (!st.isDirectory()) return { at: top, name, st };
    const merged: MergedDir = { name, dirs: [] };
    try {
      merged.dirs.push({ layer: top.layer, fd: openSame(at(top, name), O_PATH | O_DIRECTORY | O_NOFOLLOW, st) });
      for (; i < dir.dirs.length; i++) {
        const d = dir.dirs[i]!;
        const s = lstatAt(d, name);
        if (s === undefined) continue;
        if (!s.isDirectory()) break; // a file or a whiteout in a lower layer ends the merge
        merged.dirs.push({ layer: d.layer, fd: openSame(at(d, name), O_PATH | O_DIRECTORY | O_NOFOLLOW, s) });
      }
    } catch (err) {
      closeDir(merged);
      throw err;
    }
    return merged;
  }

  private read(leaf: Leaf, resolved: string): Buffer {
    const { st } = leaf;
    if (!st.isFile()) throw this.notRegular(kindOf(st), resolved);
    if (st.size > this.maxBytes) throw this.tooLarge(formatBinaryBytes(st.size), resolved);
    const pathFd = openSame(at(leaf.at, leaf.name), O_PATH | O_NOFOLLOW, st);
    this.files.push(pathFd);
    const fd = openSame(`/proc/self/fd/${pathFd}`, O_RDONLY | O_NONBLOCK | O_NOCTTY, st);
    this.files.push(fd);
    const where = readlinkSync(`/proc/self/fd/${fd}`);
    const root = this.rootPaths[leaf.at.layer]!;
    if (!isUnder(where, root)) throw this.raced(`opened ${where}, outside ${root}`);
    return this.readCapped(fd, st.size, resolved);
  }

  private readCapped(fd: number, size: number, resolved: string): Buffer {
    let buf = Buffer.allocUnsafe(Math.min(this.maxBytes + 1, Math.max(size + 1, 4096)));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > this.maxBytes) throw this.tooLarge('it grew while being read', resolved);
        const bigger = Buffer.allocUnsafe(Math.min(this.maxBytes + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) return buf.subarray(0, n);
      n += got;
    }
  }

  close(): void {
    this.stack.splice(0).forEach(closeDir);
    for (const fd of this.files.splice(0)) closeQuietly(fd);
  }

  private subject(): string {
    return `${this.asked} in ${this.o.what}`;
  }

  private error(code: ErrorCode, why: string): ShoalError {
    return new ShoalError(code, `${this.subject()} ${why}`);
  }

  private notRegular(kind: string, resolved: string): ShoalError {
    const via = resolved === this.asked ? 'is' : `is a symlink to ${resolved},`;
    return this.error('InvalidArgument', `${via} ${kind}, not a regular file`);
  }

  private tooLarge(size: string, resolved: string): ShoalError {
    const via = resolved === this.asked ? '' : ` (through a symlink to ${resolved})`;
    return this.error('TooLarge', `is larger than ${formatBinaryBytes(this.maxBytes)}${via}: ${size}`);
  }

  private raced(detail: string): ShoalError {
    return this.error('Conflict', `changed while being read (${detail}); refusing it`);
  }

  /** ShoalErrors as they are; errno errors of the walk (after the roots opened) are a concurrent change, or named with the path. */
  explain(err: unknown): ShoalError {
    if (err instanceof ShoalError) return err;
    if (err instanceof Swapped) return this.raced(err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ELOOP' || e.code === 'ENOTDIR' || e.code === 'EINVAL') return this.raced(`${e.code} ${e.syscall ?? ''}`.trim());
    if (e.code === 'ENAMETOOLONG') return this.error('InvalidArgument', 'has a name that is too long on the way');
    return new ShoalError('Internal', `reading ${this.subject()}: ${e.message}`, { cause: err });
  }
}

class Swapped extends Error {}

/** Opens `path` and checks it is the inode the lookup saw: a swap in between is a Conflict, never a read elsewhere. */
function openSame(path: string, flags: number, want: Stats): number {
  const fd = openSync(path, flags);
  try {
    const st = fstatSync(fd);
    if (st.dev !== want.dev || st.ino !== want.ino) throw new Swapped('an entry was replaced between its lookup and its open');
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
  return fd;
}

function lstatAt(d: LayerDir, name: string): Stats | undefined {
  return lstatSync(at(d, name), { throwIfNoEntry: false });
}

function closeDir(d: MergedDir): void {
  for (const l of d.dirs) closeQuietly(l.fd);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* closing is all that is left to do */
  }
}

/** `/proc/self/fd/<dir>/<name>`: a lookup of `name` relative to an open directory (openat without openat). */
function at(d: LayerDir, name: string): string {
  return `/proc/self/fd/${d.fd}/${name}`;
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function display(stack: readonly MergedDir[], rest: readonly string[]): string {
  return `/${[...stack.slice(1).map((d) => d.name), ...rest].join('/')}`;
}

/** overlayfs' whiteout: a character device 0:0. */
function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function kindOf(st: Stats): string {
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'of an unknown type';
}

function isUnder(path: string, root: string): boolean {
  return root === '/' ? path.startsWith('/') : path.startsWith(`${root}/`);
}
