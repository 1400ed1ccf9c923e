/**
 * Layer apply: unpacks one OCI layer (gzip or plain tar) into a directory, computing and
 * checking its diff_id, with nothing ever written outside the target.
 *
 * Containment: every entry name is split into components (`..` rejected, see entry-path.ts)
 * and joined under the real path of the target. Every existing intermediate component is
 * checked with lstat and must be a real directory: a symlink there is refused, never followed.
 * The final component is removed before it is created, and files are created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, so nothing is written through an existing symlink or hardlink.
 * Hardlink targets go through the same checks and must be existing non-symlink, non-directory
 * entries inside the target. Metadata calls that follow symlinks (chmod) are only made on
 * paths just created as non-symlinks; symlinks get lchown/lutimes only.
 *
 * On error the target is left partially written: the caller (the snapshotter) unpacks into a
 * private temporary directory and discards it.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, realpath, rm, symlink, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Header } from 'tar-stream';
import { ShoalError, isShoalError, type ErrorCode } from '../../api/index.js';
import { isSha256Digest } from '../oci/digest.js';
import { openLayer, type Compression } from './decompress.js';
import { classifyEntry, entryComponents } from './entry-path.js';
import { NativeFsOps, findFsopsBinary, type FsOps, type NodeKind } from './fsops.js';

export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 8 * 1024 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 2_000_000;

export type WhiteoutMode = 'overlay' | 'delete';

export interface ApplyProgress {
  /** Uncompressed bytes read so far. */
  bytes: number;
  entries: number;
}

export interface ApplyLayerOptions {
  signal?: AbortSignal;
  /** Cap on the uncompressed tar stream (default 8 GiB); TooLarge past it. */
  maxUncompressedBytes?: number;
  /** Cap on the tar entries (default 2,000,000); TooLarge past it. */
  maxEntries?: number;
  /** What the caps belong to, in errors (default "layer"): a pull passes its image's remaining budget. */
  limitName?: string;
  /** `sha256:<hex>` of the uncompressed stream; DataLoss when it differs. */
  expectedDiffId?: string;
  /** Create FIFOs and device nodes (default false: they are skipped and counted). */
  allowDevices?: boolean;
  /** Apply uid/gid from the layer (default: 'preserve' when running as root, else 'ignore'). */
  ownership?: 'preserve' | 'ignore';
  /**
   * 'overlay' (default): the target is one snapshot of an overlayfs stack; whiteouts become 0:0
   * character devices and opaque directories get `trusted.overlay.opaque=y`.
   * 'delete': the target is a flattened root; whiteouts delete paths from it.
   */
  whiteoutMode?: WhiteoutMode;
  /** Allow `trusted.*` and `security.capability` xattrs (default: running as root). */
  privileged?: boolean;
  /** Path of the shoal-fsops helper (default: found under the package root). */
  fsopsPath?: string;
  /** Replaces the helper (tests). */
  fsops?: () => FsOps;
  onProgress?: (p: ApplyProgress) => void;
}

export interface ApplyLayerResult {
  /** `sha256:<hex>` of the uncompressed tar stream. */
  diffId: string;
  /** Uncompressed size in bytes. */
  size: number;
  compression: Compression;
  entries: number;
  skipped: {
    /** FIFOs and device nodes not created (allowDevices false). */
    devices: number;
    /** Extended attributes outside the allowed namespaces, or with undecodable values. */
    xattrs: number;
    /** aufs metadata entries (`.wh..wh.*`). */
    meta: number;
  };
}

interface Compiled {
  signal: AbortSignal | undefined;
  max: number;
  maxEntries: number; // both caps may be an image's remaining budget, named by limitName
  limitName: string;
  expectedDiffId: string | undefined;
  allowDevices: boolean;
  preserveOwners: boolean;
  whiteoutMode: WhiteoutMode;
  privileged: boolean;
  fsops: () => FsOps;
  onProgress: ((p: ApplyProgress) => void) | undefined;
}

function compile(o: ApplyLayerOptions): Compiled {
  const root = process.getuid?.() === 0;
  const max = o.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  const limitName = o.limitName ?? 'layer';
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new ShoalError('InvalidArgument', `maxUncompressedBytes must be a non-negative integer, got ${String(max)}`);
  }
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
    throw new ShoalError('InvalidArgument', `maxEntries must be a non-negative integer, got ${String(maxEntries)}`);
  }
  if (o.expectedDiffId !== undefined && !isSha256Digest(o.expectedDiffId)) {
    throw new ShoalError('InvalidArgument', `invalid expected diff_id "${o.expectedDiffId}": expected sha256: and 64 lowercase hex characters`);
  }
  const fsopsPath = o.fsopsPath;
  return {
    signal: o.signal,
    max,
    ...{ maxEntries, limitName },
    expectedDiffId: o.expectedDiffId,
    allowDevices: o.allowDevices ?? false,
    preserveOwners: (o.ownership ?? (root ? 'preserve' : 'ignore')) === 'preserve',
    whiteoutMode: o.whiteoutMode ?? 'overlay',
    privileged: o.privileged ?? root,
    fsops: o.fsops ?? (() => new NativeFsOps(findFsopsBinary(fsopsPath))),
    onProgress: o.onProgress,
  };
}

/** Unpacks the layer read from `stream` into the existing directory `target`. */
export async function applyLayer(target: string, stream: Readable, opts: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  const o = compile(opts);
  throwIfAborted(o.signal);
  let root: string;
  try {
    root = await realpath(target);
    if (!(await lstat(root)).isDirectory()) throw new ShoalError('InvalidArgument', `layer target ${target} is not a directory`);
  } catch (err) {
    if (isShoalError(err)) throw err;
    throw new ShoalError('NotFound', `layer target ${target} does not exist`, { cause: err });
  }

  const opened = await openLayer(stream);
  const hash = createHash('sha256');
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      bytes += chunk.length;
      if (bytes > o.max) {
        cb(new ShoalError('TooLarge', `${o.limitName} exceeds the ${formatBytes(o.max)} decompression limit`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const stages: (Readable | Writable)[] = opened.decoder === undefined ? [opened.raw, counter, extract as unknown as Writable] : [opened.raw, opened.decoder, counter, extract as unknown as Writable];
  let feedError: unknown;
  const fed = pipeline(stages, o.signal === undefined ? {} : { signal: o.signal }).then(
    () => undefined,
    (err: unknown) => {
      feedError = err;
    },
  );

  const writer = new LayerWriter(root, o);
  try {
    for await (const entry of extract) {
      throwIfAborted(o.signal);
      await writer.apply(entry.header, entry);
      o.onProgress?.({ bytes, entries: writer.entries });
    }
    await fed;
    if (feedError !== undefined) throw feedError;
    throwIfAborted(o.signal);
    const diffId = `sha256:${hash.digest('hex')}`;
    if (o.expectedDiffId !== undefined && diffId !== o.expectedDiffId) {
      throw new ShoalError('DataLoss', `layer diff_id mismatch: expected ${o.expectedDiffId}, the uncompressed content hashes to ${diffId}`);
    }
    await writer.finish();
    return { diffId, size: bytes, compression: opened.compression, entries: writer.entries, skipped: writer.skipped };
  } catch (err) {
    for (const s of stages) s.destroy();
    await fed;
    await writer.abort();
    throw layerError(feedError !== undefined && !isShoalError(err) ? feedError : err, o.signal);
  }
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

type Pax = Record<string, string>;

/** The state of one layer apply: what this layer wrote, verified directories, the helper. */
class LayerWriter {
  entries = 0;
  readonly skipped = { devices: 0, xattrs: 0, meta: 0 };
  /** Relative paths known to be real directories (not symlinks) in the target. */
  private readonly dirs = new Set<string>(['']);
  /** Relative paths this layer created (same-layer content wins over its own whiteouts). */
  private readonly written = new Set<string>();
  /** Directory metadata applied at the end, deepest first (children change dir mtimes). */
  private readonly dirMeta = new Map<string, DirMeta>();
  private fsops: FsOps | undefined;

  constructor(
    private readonly root: string,
    private readonly o: Compiled,
  ) {}

  async apply(h: Header, body: AsyncIterable<unknown>): Promise<void> {
    if (++this.entries > this.o.maxEntries) throw new ShoalError('TooLarge', `${this.o.limitName} has more than ${this.o.maxEntries} files, directories and links`);
    const name = h.name;
    try {
      await this.applyEntry(h, body);
    } catch (err) {
      throw entryError(err, name);
    } finally {
      // Whatever happened, the entry's data must be consumed before the next header.
      try {
        for await (const _ of body) {
          // drain
        }
      } catch {
        // the stream's own error is reported by the pipeline
      }
    }
  }

  private async applyEntry(h: Header, body: AsyncIterable<unknown>): Promise<void> {
    const name = h.name;
    const comps = entryComponents(name);
    const cls = classifyEntry(comps, name);
    const type = h.type ?? 'file';
    if (cls.kind === 'meta') {
      this.skipped.meta++;
      return;
    }
    if (cls.kind !== 'plain' && type !== 'file' && type !== 'contiguous-file') {
      throw new ShoalError('InvalidArgument', `layer entry ${JSON.stringify(name)}: a whiteout must be a regular file, not a ${type}`);
    }
    if (cls.kind === 'opaque') return this.opaque(cls.dir);
    if (cls.kind === 'whiteout') return this.whiteout(cls.path, h);
    if (comps.length === 0 && type !== 'directory') {
      throw new ShoalError('InvalidArgument', `layer entry ${JSON.stringify(name)} names the root but is a ${type}`);
    }
    switch (type) {
      case 'directory':
        return this.directory(comps, h);
      case 'file':
      case 'contiguous-file':
        return this.file(comps, h, body);
      case 'symlink':
        return this.symlink(comps, h);
      case 'link':
        return this.hardlink(comps, h);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        return this.node(comps, h, type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c');
      default:
        throw new ShoalError('InvalidArgument', `layer entry ${JSON.stringify(name)} has an unsupported type ${JSON.stringify(type)}`);
    }
  }

  private abs(comps: readonly string[]): string {
    return comps.length === 0 ? this.root : `${this.root}/${comps.join('/')}`;
  }

  /**
   * Makes every component of `comps` an existing real directory, creating missing ones (0755).
   * A symlink or non-directory on the way is refused.
   */
  private async ensureDirs(comps: readonly string[]): Promise<void> {
    for (let i = 1; i <= comps.length; i++) {
      const rel = comps.slice(0, i).join('/');
      if (this.dirs.has(rel)) continue;
      const st = await lstatOrUndefined(this.abs(comps.slice(0, i)));
      if (st === undefined) {
        await mkdir(this.abs(comps.slice(0, i)), { mode: 0o755 });
        this.written.add(rel);
      } else {
        refuseNonDir(st, rel);
      }
      this.dirs.add(rel);
    }
  }

  /** True when every component of `comps` is an existing real directory; refuses symlinks. */
  private async dirsExist(comps: readonly string[]): Promise<boolean> {
    for (let i = 1; i <= comps.length; i++) {
      const rel = comps.slice(0, i).join('/');
      if (this.dirs.has(rel)) continue;
      const st = await lstatOrUndefined(this.abs(comps.slice(0, i)));
      if (st === undefined) return false;
      refuseNonDir(st, rel);
      this.dirs.add(rel);
    }
    return true;
  }

  /** Removes whatever is at `comps` (recursively, never following symlinks). */
  private async remove(comps: readonly string[]): Promise<void> {
    const rel = comps.join('/');
    await rm(this.abs(comps), { recursive: true, force: true });
    const prefix = `${rel}/`;
    for (const set of [this.dirs, this.written]) {
      for (const k of set) if (k === rel || k.startsWith(prefix)) set.delete(k);
    }
    for (const k of this.dirMeta.keys()) if (k === rel || k.startsWith(prefix)) this.dirMeta.delete(k);
  }

  /** Prepares the place of a new non-directory entry: parents exist, the name is free. */
  private async prepare(comps: readonly string[]): Promise<string> {
    await this.ensureDirs(comps.slice(0, -1));
    const p = this.abs(comps);
    if ((await lstatOrUndefined(p)) !== undefined) await this.remove(comps);
    this.written.add(comps.join('/'));
    return p;
  }

  private async directory(comps: string[], h: Header): Promise<void> {
    const rel = comps.join('/');
    if (comps.length > 0) {
      await this.ensureDirs(comps.slice(0, -1));
      const st = await lstatOrUndefined(this.abs(comps));
      if (st !== undefined && !st.isDirectory()) await this.remove(comps);
      if (st === undefined || !st.isDirectory()) await mkdir(this.abs(comps), { mode: 0o700 });
      this.dirs.add(rel);
      this.written.add(rel);
    }
    const t = times(h);
    const { uid, gid } = owner(h);
    this.dirMeta.set(rel, { mode: modeOf(h, 0o755), uid, gid, atime: t.atime, mtime: t.mtime });
    await this.xattrs(this.abs(comps), h);
  }

  private async file(comps: string[], h: Header, body: AsyncIterable<unknown>): Promise<void> {
    const p = await this.prepare(comps);
    const fh = await open(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of body) await writeAll(fh, chunk as Buffer);
    } finally {
      await fh.close();
    }
    await this.meta(p, h, false);
  }

  private async symlink(comps: string[], h: Header): Promise<void> {
    const target = h.linkname ?? '';
    if (target === '' || target.includes('\0')) {
      throw new ShoalError('InvalidArgument', `symlink ${JSON.stringify(h.name)} has an empty or invalid target`);
    }
    const p = await this.prepare(comps);
    // The link text is stored as is and never followed while unpacking.
    await symlink(target, p);
    await this.meta(p, h, true);
  }

  private async hardlink(comps: string[], h: Header): Promise<void> {
    const linkname = h.linkname ?? '';
    const tcomps = entryComponents(linkname, 'hardlink target');
    if (tcomps.length === 0) throw new ShoalError('InvalidArgument', `hardlink ${JSON.stringify(h.name)} has no target`);
    const targetPath = this.abs(tcomps);
    const st = (await this.dirsExist(tcomps.slice(0, -1))) ? await lstatOrUndefined(targetPath) : undefined;
    if (st === undefined) {
      throw new ShoalError('InvalidArgument', `hardlink ${JSON.stringify(h.name)} points to ${JSON.stringify(linkname)}, which is not in the layer`);
    }
    if (st.isSymbolicLink() || st.isDirectory()) {
      throw new ShoalError('InvalidArgument', `hardlink ${JSON.stringify(h.name)} points to ${JSON.stringify(linkname)}, which is a ${st.isDirectory() ? 'directory' : 'symlink'}`);
    }
    if (tcomps.join('/') === comps.join('/')) return;
    const p = await this.prepare(comps);
    await link(targetPath, p);
  }

  private async node(comps: string[], h: Header, kind: NodeKind): Promise<void> {
    if (!this.o.allowDevices) {
      this.skipped.devices++;
      return;
    }
    const p = await this.prepare(comps);
    await this.helper().mknod(p, kind, modeOf(h, 0o600), h.devmajor ?? 0, h.devminor ?? 0);
    await this.meta(p, h, false);
  }

  private async opaque(dir: string[]): Promise<void> {
    if (this.o.whiteoutMode === 'overlay') {
      await this.ensureDirs(dir);
      await this.helper().setxattr(this.abs(dir), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (!(await this.dirsExist(dir))) return;
    for (const child of await readdir(this.abs(dir))) {
      const c = [...dir, child];
      if (!this.written.has(c.join('/'))) await this.remove(c);
    }
  }

  private async whiteout(path: string[], h: Header): Promise<void> {
    const rel = path.join('/');
    if (this.written.has(rel)) return; // a whiteout only hides lower layers, not this one
    const parent = path.slice(0, -1);
    if (this.o.whiteoutMode === 'delete') {
      if (await this.dirsExist(parent)) await this.remove(path);
      return;
    }
    await this.ensureDirs(parent);
    const p = this.abs(path);
    if ((await lstatOrUndefined(p)) !== undefined) await this.remove(path);
    await this.helper().mknod(p, 'c', 0, 0, 0);
    if (this.o.preserveOwners) {
      const { uid, gid } = owner(h);
      await lchown(p, uid, gid);
    }
  }

  /** Owner, mode (after chown: chown clears setuid bits), xattrs (after chown: it clears capabilities), times. */
  private async meta(p: string, h: Header, isSymlink: boolean): Promise<void> {
    if (this.o.preserveOwners) {
      const { uid, gid } = owner(h);
      await lchown(p, uid, gid);
    }
    if (!isSymlink) await chmod(p, modeOf(h, 0o644));
    await this.xattrs(p, h);
    const t = times(h);
    await lutimes(p, t.atime, t.mtime);
  }

  private async xattrs(p: string, h: Header): Promise<void> {
    const pax = paxOf(h);
    if (pax === undefined) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      // tar-stream decodes PAX values as UTF-8: binary values that were not valid UTF-8 are lost.
      if (!this.xattrAllowed(name) || value.includes('\uFFFD')) {
        this.skipped.xattrs++;
        continue;
      }
      await this.helper().setxattr(p, name, Buffer.from(value, 'utf8'));
    }
  }

  private xattrAllowed(name: string): boolean {
    if (name.startsWith('user.')) return true;
    if (!this.o.privileged) return false;
    if (name === 'security.capability') return true;
    // overlay's own attributes would let a layer redirect or hide paths of the mounted stack.
    return name.startsWith('trusted.') && !name.startsWith('trusted.overlay.');
  }

  private helper(): FsOps {
    this.fsops ??= this.o.fsops();
    return this.fsops;
  }

  /** Directory metadata, deepest first, then the helper's batch is closed. */
  async finish(): Promise<void> {
    const rels = [...this.dirMeta.keys()].sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
    for (const rel of rels) {
      const m = this.dirMeta.get(rel);
      if (m === undefined) continue;
      const p = rel === '' ? this.root : `${this.root}/${rel}`;
      const st = await lstatOrUndefined(p);
      if (st === undefined || !st.isDirectory()) continue; // never chmod through a symlink
      if (this.o.preserveOwners) await lchown(p, m.uid, m.gid);
      await chmod(p, m.mode);
      await lutimes(p, m.atime, m.mtime);
    }
    await this.fsops?.close();
  }

  async abort(): Promise<void> {
    await this.fsops?.close({ force: true }).catch(() => undefined);
  }
}

function refuseNonDir(st: Stats, rel: string): void {
  if (st.isSymbolicLink()) {
    throw new ShoalError('InvalidArgument', `path component ${JSON.stringify(rel)} is a symlink; refusing to write through it`);
  }
  if (!st.isDirectory()) {
    throw new ShoalError('InvalidArgument', `path component ${JSON.stringify(rel)} is not a directory`);
  }
}

function depth(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}

function paxOf(h: Header): Pax | undefined {
  const pax = h.pax;
  return typeof pax === 'object' && pax !== null ? (pax as Pax) : undefined;
}

function modeOf(h: Header, fallback: number): number {
  return (h.mode ?? fallback) & 0o7777;
}

function owner(h: Header): { uid: number; gid: number } {
  const pax = paxOf(h);
  const num = (s: string | undefined, dflt: number | undefined): number => {
    const n = s === undefined ? NaN : Number(s);
    return Number.isSafeInteger(n) && n >= 0 ? n : (dflt ?? 0);
  };
  return { uid: num(pax?.uid, h.uid), gid: num(pax?.gid, h.gid) };
}

function times(h: Header): { atime: number; mtime: number } {
  const pax = paxOf(h);
  const secs = (s: string | undefined): number | undefined => {
    const n = s === undefined ? NaN : Number(s);
    return Number.isFinite(n) ? n : undefined;
  };
  const mtime = secs(pax?.mtime) ?? (h.mtime instanceof Date ? h.mtime.getTime() / 1000 : 0);
  return { mtime, atime: secs(pax?.atime) ?? mtime };
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new ShoalError('Canceled', 'layer apply canceled');
}

const ERRNO: Record<string, ErrorCode> = {
  ENAMETOOLONG: 'InvalidArgument',
  EINVAL: 'InvalidArgument',
  ELOOP: 'InvalidArgument',
  ENOTDIR: 'InvalidArgument',
  EISDIR: 'InvalidArgument',
  EEXIST: 'InvalidArgument',
  EPERM: 'PermissionDenied',
  EACCES: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  // A full disk: nothing to retry until someone frees space (util's explainNoSpace, same code).
  ENOSPC: 'FailedPrecondition',
  EDQUOT: 'FailedPrecondition',
};

/** Names the entry in errors raised while applying it. */
function entryError(err: unknown, name: string): ShoalError {
  if (isShoalError(err)) {
    if (err.message.includes(JSON.stringify(name))) return err;
    return new ShoalError(err.code, `layer entry ${JSON.stringify(name)}: ${err.message}`, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // Not a file-system error: a failure of the stream itself, which the pipeline reports better.
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) throw err;
  const message = err instanceof Error ? err.message : String(err);
  return new ShoalError((code !== undefined ? ERRNO[code] : undefined) ?? 'Internal', `layer entry ${JSON.stringify(name)}: ${message}`, { cause: err });
}

/** Errors of the stream stages: bad gzip or tar data is the layer's fault (InvalidArgument). */
function layerError(err: unknown, signal: AbortSignal | undefined): ShoalError {
  if (isShoalError(err)) return err;
  if (signal?.aborted === true) return new ShoalError('Canceled', 'layer apply canceled', { cause: err });
  const e = err as NodeJS.ErrnoException | undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new ShoalError('InvalidArgument', `layer is not valid gzip data: ${message}`, { cause: err });
  }
  if (/tar|header|Unexpected end of data|Invalid/i.test(message)) {
    return new ShoalError('InvalidArgument', `layer is not a valid tar archive: ${message}`, { cause: err });
  }
  return new ShoalError('Internal', `applying layer: ${message}`, { cause: err });
}

function formatBytes(n: number): string {
  const units: [number, string][] = [
    [1024 ** 4, 'TiB'],
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [size, unit] of units) if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return `${n}-byte`;
}
