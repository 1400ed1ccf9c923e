/**
 * The image service: what the engine API and the container runtime use of images. It ties the
 * registry client, the content store, layer apply, snapshots and the metadata store together
 * (pull, push, import, list, inspect, tag, remove, gc). The types here are the engine API's
 * JSON shapes for images.
 */
import type { ImageConfig } from '../oci/image-config.js';
import { join } from 'node:path';
import {
  errors, isShoalError, type ImageInspect, type ImageRemoveResult, type ImageResult, type ImageSummary, type LayerProgress,
} from '../../api/index.js';
import { explainNoSpace } from '../../util/index.js';
import type { CredentialStore } from '../registry/credentials.js';
import type { Registry } from '../registry/types.js';
import { Snapshotter } from '../snapshots/snapshotter.js';
import type { ResolvedImage } from '../container/types.js';
import { shortDigest as short } from '../oci/digest.js';
import { parseImageConfig } from '../oci/image-config.js';
import { importImage } from './import.js';
import { detectPlatform, type PlatformSpec } from '../oci/platform.js';
import { pullImage, type BlobStore, type ImageBudget, type LayerApplier } from './pull.js';
import { pushImage } from './push.js';
import { normalizeReference, parseReference } from '../oci/reference.js';
import { ImageStore, type ImageEntry } from './store.js';

export type ProgressFn = (ev: LayerProgress) => void;

export interface OperationOptions {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

/** What the engine API needs of images; ImageService implements it, tests use fakes. */
export interface ImageApi {
  pull(ref: string, opts?: OperationOptions): Promise<ImageResult>;
  push(ref: string, opts?: OperationOptions): Promise<ImageResult>;
  list(): Promise<ImageSummary[]>;
  inspect(refOrId: string): Promise<ImageInspect>;
  tag(source: string, target: string): Promise<void>;
  remove(refOrId: string, opts?: { force?: boolean }): Promise<ImageRemoveResult>;
  importTar(tar: NodeJS.ReadableStream, ref: string, opts?: { signal?: AbortSignal }): Promise<ImageResult>;
  login(registry: string, username: string, password: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

// ---- implementation -------------------------------------------------------------------------


export interface ImageServiceOptions {
  /** `--data-dir`: images/, snapshots/ and tmp/ live under it (content/ is the content store's). */
  dataDir: string;
  registry: Registry;
  credentials: CredentialStore;
  content: BlobStore;
  applyLayer: LayerApplier;
  platform?: PlatformSpec;
  /** Blobs fetched or pushed at once (default 4, at least 3). */
  concurrency?: number;
  maxLayerSize: number;
  /** Caps on all the layers one pull unpacks (absent: per-layer caps only). */
  imageBudget?: ImageBudget;
  now?: () => Date;
  /** Told after each pull, failed or not: bytes downloaded (blobs already present excluded) and seconds taken (metrics). */
  onPulled?: (ev: { ref: string; bytes: number; seconds: number; ok: boolean }) => void;
}

export class ImageService implements ImageApi {
  private readonly leases = new Map<string, number>();
  private ops = 0;
  private gcPending = false;
  private inUse: (id: string) => boolean | Promise<boolean> = () => false;
  private readonly now: () => Date;
  private readonly platform: PlatformSpec;
  private readonly concurrency: number;

  private constructor(
    private readonly opts: ImageServiceOptions,
    readonly store: ImageStore,
    readonly snapshots: Snapshotter,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.platform = opts.platform ?? detectPlatform(process.arch);
    this.concurrency = Math.max(3, opts.concurrency ?? 4);
  }

  static async create(opts: ImageServiceOptions): Promise<ImageService> {
    const store = await ImageStore.open(join(opts.dataDir, 'images'), { normalize: normalizeReference });
    const snapshots = await Snapshotter.open(join(opts.dataDir, 'snapshots'));
    return new ImageService(opts, store, snapshots);
  }

  /** The container runtime tells the store which images its containers use (rmi refuses those). */
  setImageInUseHook(fn: (id: string) => boolean | Promise<boolean>): void {
    this.inUse = fn;
  }

  private lease = (keys: string[]): (() => void) => {
    for (const k of keys) this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) {
        const n = (this.leases.get(k) ?? 1) - 1;
        if (n <= 0) this.leases.delete(k);
        else this.leases.set(k, n);
      }
    };
  };

  /**
   * Counts an operation that writes content so gc waits for it; a failed one triggers a gc (which
   * also frees what a pull that ran out of disk had written). A full disk is explained: which
   * filesystem, and `what` was being done.
   */
  private async op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.ops++;
    let failed = false;
    try {
      return await fn();
    } catch (err) {
      failed = true;
      throw await explainNoSpace(err, this.opts.dataDir, what);
    } finally {
      this.ops--;
      if (failed) this.gcPending = true;
      if (this.ops === 0 && this.gcPending) await this.gc().catch(() => undefined);
    }
  }

  async pull(input: string, opts: OperationOptions = {}): Promise<ImageResult> {
    const observer = this.opts.onPulled;
    if (observer) {
      // Downloaded bytes per blob: the last `current` of its downloading/verifying events.
      const got = new Map<string, number>();
      const t0 = performance.now();
      const outer = opts.onProgress;
      const onProgress: ProgressFn = (ev) => {
        if ((ev.status === 'downloading' || ev.status === 'verifying') && ev.current !== undefined) got.set(ev.id, ev.current);
        outer?.(ev);
      };
      let ok = false;
      try {
        const r = await this.pullOnce(input, { ...opts, onProgress });
        ok = true;
        return r;
      } finally {
        let bytes = 0;
        for (const n of got.values()) bytes += n;
        observer({ ref: input, bytes, seconds: (performance.now() - t0) / 1000, ok });
      }
    }
    return this.pullOnce(input, opts);
  }

  private async pullOnce(input: string, opts: OperationOptions): Promise<ImageResult> {
    return this.op(`storing the image ${input}`, async () => {
      const { record, ref } = await pullImage(
        {
          registry: this.opts.registry,
          content: this.opts.content,
          snapshots: this.snapshots,
          applyLayer: this.opts.applyLayer,
          platform: this.platform,
          concurrency: this.concurrency,
          now: this.now,
          lease: this.lease,
          ...(this.opts.imageBudget ? { budget: this.opts.imageBudget } : {}),
        },
        input,
        opts,
      );
      const existing = this.store.get(record.manifestDigest);
      await this.store.put(existing ? { ...record, addedAt: existing.addedAt } : record, ref.toString());
      return { ref: ref.toString(), digest: record.manifestDigest, id: record.id };
    });
  }

  async push(input: string, opts: OperationOptions = {}): Promise<ImageResult> {
    const ref = parseReference(input);
    const { record } = this.store.resolve(input);
    return this.op(`pushing ${input}`, async () => {
      const release = this.lease([record.manifestDigest, record.id, ...record.layers.map((l) => l.digest)]);
      try {
        const digest = await pushImage({ registry: this.opts.registry, content: this.opts.content, concurrency: this.concurrency }, record, ref, opts);
        return { ref: ref.toString(), digest, id: record.id };
      } finally {
        release();
      }
    });
  }

  async importTar(tar: NodeJS.ReadableStream, input: string, opts: { signal?: AbortSignal } = {}): Promise<ImageResult> {
    const ref = parseReference(input);
    if (ref.digest) throw errors.invalidArgument(`cannot import as a digest reference "${input}": use name:tag`);
    return this.op(`importing the image ${input}`, async () => {
      const record = await importImage(
        {
          content: this.opts.content,
          snapshots: this.snapshots,
          applyLayer: this.opts.applyLayer,
          platform: this.platform,
          tmpDir: join(this.opts.dataDir, 'tmp'),
          maxLayerSize: this.opts.maxLayerSize,
          now: this.now,
          lease: this.lease,
        },
        tar,
        opts,
      );
      await this.store.put(record, ref.toString());
      return { ref: ref.toString(), digest: record.manifestDigest, id: record.id };
    });
  }

  async list(): Promise<ImageSummary[]> {
    return this.store.list().map((e) => ({
      Id: e.record.id,
      RepoTags: tagsOf(e),
      RepoDigests: digestsOf(e),
      Created: e.record.created ?? e.record.addedAt,
      Size: e.record.size,
    }));
  }

  async inspect(refOrId: string): Promise<ImageInspect> {
    const e = this.store.resolve(refOrId);
    const r = e.record;
    const config = await this.configOf(r.id);
    const out: ImageInspect = {
      Id: r.id,
      RepoTags: tagsOf(e),
      RepoDigests: digestsOf(e),
      Created: r.created ?? r.addedAt,
      Architecture: r.platform.architecture,
      Os: r.platform.os,
      Size: r.size,
      Config: config.config ?? {},
      RootFS: { Type: 'layers', Layers: r.diffIds },
      Manifest: { Digest: r.manifestDigest, MediaType: r.manifestMediaType, Layers: r.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })) },
      GraphDriver: { Name: 'overlay', Data: { ChainIds: r.chainIds, LowerDirs: this.snapshots.lowerDirs(r.chainIds) } },
    };
    if (r.platform.variant) out.Variant = r.platform.variant;
    return out;
  }

  private async configOf(id: string): Promise<ImageConfig> {
    try {
      return parseImageConfig(await this.opts.content.readBytes(id));
    } catch (err) {
      if (isShoalError(err, 'NotFound')) throw errors.dataLoss(`the config ${id} of the image is missing from the content store: pull it again`);
      throw err;
    }
  }

  async tag(source: string, target: string): Promise<void> {
    await this.store.tag(source, target);
  }

  async remove(refOrId: string, opts: { force?: boolean } = {}): Promise<ImageRemoveResult> {
    const entry = this.store.resolve(refOrId);
    const { record, refs } = entry;
    let norm: string | undefined;
    try {
      norm = normalizeReference(refOrId);
    } catch {
      norm = undefined;
    }
    const byRef = refs.includes(refOrId) ? refOrId : norm !== undefined && refs.includes(norm) ? norm : undefined;
    const toUntag = byRef !== undefined ? [byRef] : refs;
    if (byRef === undefined && refs.length > 1 && !opts.force) {
      throw errors.conflict(`image ${short(record.id)} is referenced by ${refs.length} references (${refs.map(familiar).join(', ')}): remove them one by one or use -f`);
    }
    const deletes = toUntag.length === refs.length;
    if (deletes && (await this.inUse(record.id))) {
      if (!opts.force) throw errors.failedPrecondition(`image ${familiar(byRef ?? short(record.id))} is used by a container: remove the container first or use -f`);
      // Forced: the references go, the image stays (dangling) while a container uses it.
      return { untagged: (await this.store.untag(toUntag)).map(familiar), deleted: [] };
    }
    const untagged = (await this.store.untag(toUntag)).map(familiar);
    if (!deletes) return { untagged, deleted: [] };
    await this.store.deleteRecord(record.manifestDigest);
    const removed = await this.gc();
    return { untagged, deleted: [record.id, ...removed.filter((d) => d !== record.id)] };
  }

  async login(registry: string, username: string, password: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const host = registry.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (host === '') throw errors.invalidArgument(`invalid registry "${registry}"`);
    await this.opts.registry.login(host, username, password, opts);
    await this.opts.credentials.set(host, username, password);
  }

  /** For the container runtime: the image's config and overlay lower dirs (NotFound when absent). */
  async resolveForRun(ref: string, _signal?: AbortSignal): Promise<ResolvedImage> {
    const { record, refs } = this.store.resolve(ref);
    const config = await this.configOf(record.id);
    for (const c of record.chainIds) {
      if (!(await this.snapshots.exists(c))) throw errors.dataLoss(`a layer snapshot of ${ref} is missing: remove the image and pull it again`);
    }
    return {
      id: record.id,
      ref: refs[0] ?? record.id,
      config: config.config ?? {},
      lowerDirs: this.snapshots.lowerDirs(record.chainIds),
    };
  }

  /**
   * Deletes blobs and snapshots no image record references (and no running operation leases).
   * Deferred while a pull, push or import runs. Returns the digests and chain ids removed.
   */
  async gc(): Promise<string[]> {
    if (this.ops > 0) {
      this.gcPending = true;
      return [];
    }
    this.gcPending = false;
    const keep = new Set<string>(this.leases.keys());
    for (const { record } of this.store.list()) {
      keep.add(record.manifestDigest);
      keep.add(record.config.digest);
      for (const l of record.layers) keep.add(l.digest);
      for (const c of record.chainIds) keep.add(c);
    }
    const removed: string[] = [];
    const blobs: string[] = [];
    for await (const b of this.opts.content.list()) blobs.push(b.digest);
    for (const d of blobs) {
      if (!keep.has(d) && (await this.opts.content.delete(d))) removed.push(d);
    }
    for (const c of await this.snapshots.list()) {
      if (!keep.has(c)) {
        await this.snapshots.remove(c);
        removed.push(c);
      }
    }
    return removed;
  }
}

function familiar(ref: string): string {
  try {
    return parseReference(ref).familiar;
  } catch {
    return ref;
  }
}

function tagsOf(e: ImageEntry): string[] {
  return e.refs.filter((r) => !r.includes('@')).map(familiar);
}

function digestsOf(e: ImageEntry): string[] {
  const out = new Set<string>();
  for (const r of e.refs) {
    try {
      const p = parseReference(r);
      const suffix = (p.tag ? `:${p.tag}` : '') + (p.digest ? `@${p.digest}` : '');
      out.add(`${p.familiar.slice(0, p.familiar.length - suffix.length)}@${e.record.manifestDigest}`);
    } catch {
      // not a reference
    }
  }
  return [...out];
}
