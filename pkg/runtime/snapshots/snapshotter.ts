/**
 * Snapshots: one directory per chain id, `<root>/<chainid-hex>/fs`, holding the *diff* of one
 * layer as overlayfs wants it (whiteouts as 0:0 character devices, opaque directories with the
 * `trusted.overlay.opaque` xattr). A layer is unpacked into `<root>/.tmp-<random>/fs` and the
 * temp dir renamed into place only when the apply finished, so a crash leaves temp dirs only,
 * removed by `open()`. The container runtime mounts `lowerDirs(chainIds)` (top first) read-only.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../../api/index.js';
import { isSha256Digest } from '../oci/digest.js';

const TMP_PREFIX = '.tmp-';

/** Unpacks one layer into `dir` (an empty directory). */
export type ApplyFn = (dir: string, signal?: AbortSignal) => Promise<void>;

export class Snapshotter {
  private readonly inflight = new Map<string, Promise<boolean>>();

  private constructor(readonly root: string) {}

  /** Creates the root when absent and removes temp dirs left by a crash. */
  static async open(root: string): Promise<Snapshotter> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    for (const name of await readdir(root)) {
      if (name.startsWith(TMP_PREFIX)) await rm(join(root, name), { recursive: true, force: true });
    }
    return new Snapshotter(root);
  }

  /** The unpacked directory of a chain id (whether or not it exists). */
  path(chainId: string): string {
    return join(this.root, hexOf(chainId), 'fs');
  }

  async exists(chainId: string): Promise<boolean> {
    try {
      return (await stat(this.path(chainId))).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * Makes sure the snapshot of `chainId` exists, applying the layer with `apply` when it does not.
   * Concurrent calls for one chain id share one apply. Returns true when this call created it.
   */
  async prepare(chainId: string, apply: ApplyFn, signal?: AbortSignal): Promise<boolean> {
    hexOf(chainId);
    const running = this.inflight.get(chainId);
    if (running) {
      await running;
      return false;
    }
    const p = this.doPrepare(chainId, apply, signal);
    this.inflight.set(chainId, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(chainId);
    }
  }

  private async doPrepare(chainId: string, apply: ApplyFn, signal?: AbortSignal): Promise<boolean> {
    if (await this.exists(chainId)) return false;
    const tmp = join(this.root, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
      await apply(join(tmp, 'fs'), signal);
      signal?.throwIfAborted();
      const final = join(this.root, hexOf(chainId));
      try {
        await rename(tmp, final);
      } catch (err) {
        // Another process put it in place first: theirs is as good as ours.
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await this.exists(chainId))) return false;
        throw err;
      }
      return true;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** overlayfs lower dirs for an image's chain ids (bottom layer first in), top layer first out. */
  lowerDirs(chainIds: readonly string[]): string[] {
    return chainIds.map((c) => this.path(c)).reverse();
  }

  async remove(chainId: string): Promise<void> {
    await rm(join(this.root, hexOf(chainId)), { recursive: true, force: true });
  }

  /** Chain ids of every complete snapshot. */
  async list(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

function hexOf(chainId: string): string {
  if (!isSha256Digest(chainId)) throw errors.invalidArgument(`"${chainId}" is not a sha256 chain id`);
  return chainId.slice('sha256:'.length);
}
