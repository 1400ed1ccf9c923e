/**
 * A full disk, explained. ENOSPC (or EDQUOT) from a write becomes a FailedPrecondition
 * ShoalError that names the filesystem (its mount point, type and device, what is free of
 * what) and what was being written, so "no space left on device" reaches the user with the
 * disk to clean up. FailedPrecondition, not Unavailable: retrying does not help until someone
 * frees space. `mountOf` is the pure lookup in /proc/self/mountinfo.
 */
import { readFile, realpath, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '../api/index.js';

/** The errno error of a full filesystem or quota in `err` or its causes, if any. */
export function noSpaceCause(err: unknown): NodeJS.ErrnoException | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return e as NodeJS.ErrnoException;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when `err` (or an error it wraps) is ENOSPC or EDQUOT. */
export function isNoSpace(err: unknown): boolean {
  return noSpaceCause(err) !== undefined;
}

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** `\040` and friends of /proc/self/mountinfo, decoded. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount (longest mount point that contains `path`, an absolute real path) in mountinfo text. */
export function mountOf(mountinfo: string, path: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 6 || fields.length < sep + 3) continue;
    const mountPoint = unescapeMountField(fields[4] ?? '');
    const inside = mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);
    // Later lines are mounted over earlier ones at the same point: `>=` keeps the last.
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) {
      best = { mountPoint, fsType: fields[sep + 1] ?? '', source: unescapeMountField(fields[sep + 2] ?? '') };
    }
  }
  return best;
}

/** `1.5 MiB`, as df -h counts. */
export function formatBinaryBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The nearest existing ancestor of `path` (the file being written may not exist yet), resolved. */
async function existingReal(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    try {
      return await realpath(p);
    } catch {
      if (dirname(p) === p) return p;
    }
  }
}

/** "the filesystem mounted at /x (tmpfs on tmpfs, 0 B free of 4.0 MiB)", as far as it can be learnt. */
export async function describeFilesystem(path: string): Promise<string> {
  const real = await existingReal(path);
  const mount = mountOf(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''), real);
  const parts: string[] = [];
  if (mount) parts.push(mount.source && mount.source !== mount.fsType ? `${mount.fsType} on ${mount.source}` : mount.fsType);
  try {
    const st = await statfs(real);
    parts.push(`${formatBinaryBytes(st.bavail * st.bsize)} free of ${formatBinaryBytes(st.blocks * st.bsize)}`);
    if (st.files > 0 && st.ffree === 0) parts.push('no free inodes');
  } catch {
    /* no figures then */
  }
  const where = mount ? `the filesystem mounted at ${mount.mountPoint}` : `the filesystem of ${real}`;
  return parts.length > 0 ? `${where} (${parts.join(', ')})` : where;
}

const explained = new WeakSet<ShoalError>();

/**
 * `err` unchanged unless it is ENOSPC/EDQUOT (or wraps one); then a FailedPrecondition:
 * "no space left on device while <what>: <the filesystem of path> is full". `path` is what was
 * being written (or its directory); `what` defaults to "writing <path>". An error explained
 * once is passed through as it is.
 */
export async function explainNoSpace(err: unknown, path: string, what = `writing ${path}`): Promise<unknown> {
  if (err instanceof ShoalError && explained.has(err)) return err;
  const cause = noSpaceCause(err);
  if (cause === undefined) return err;
  const quota = cause.code === 'EDQUOT';
  const fs = await describeFilesystem(path);
  const e = new ShoalError(
    'FailedPrecondition',
    quota ? `disk quota exceeded while ${what}: ${fs} is at its quota (free some space on it, then retry)` : `no space left on device while ${what}: ${fs} is full (free some space on it, then retry)`,
    { cause: err },
  );
  explained.add(e);
  return e;
}

/** Runs `fn`; a full disk becomes the explained FailedPrecondition of explainNoSpace. */
export async function explainingNoSpace<T>(path: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw await explainNoSpace(err, path, what);
  }
}
