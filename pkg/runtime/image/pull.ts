/**
 * Pull: resolve → (index → the node's platform) → manifest → config and layers fetched in
 * parallel (bounded, default 4 at once), streamed into the content store and verified there →
 * layers applied into snapshots in order, each as soon as it and every layer below it are
 * present (a snapshot that exists is skipped) → image record and reference written last.
 * Everything touched is leased while the pull runs so a concurrent gc leaves it alone; on
 * failure the caller's gc removes what no image references.
 */
import type { Readable } from 'node:stream';
import { errors, isShoalError } from '../../api/index.js';
import type { ContentStore } from '../content/index.js';
import type { Registry } from '../registry/types.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { chainIds as toChainIds } from '../snapshots/chain-id.js';
import { sha256Digest, shortDigest as short } from '../oci/digest.js';
import { parseImageConfig } from '../oci/image-config.js';
import { parseManifest, type Descriptor, type ImageManifest } from '../oci/manifest.js';
import { isLayerMediaType, isNonDistributableLayer, layerCompression } from '../oci/media-types.js';
import { selectPlatform, type PlatformSpec } from '../oci/platform.js';
import { parseReference, type Reference } from '../oci/reference.js';
import type { ImageRecord } from './store.js';
import type { OperationOptions, ProgressFn } from './service.js';

/** The content store pull, push and import write to (B's FileContentStore, or MemoryContentStore in tests). */
export type BlobStore = ContentStore;

/** Unpacks one layer blob into an empty directory (overlay whiteouts), checking its diff_id. */
export interface LayerApplyOptions {
  signal?: AbortSignal;
  expectedDiffId: string;
  /** What is left of the image's budget (the applier's own per-layer cap still holds). */
  maxUncompressedBytes?: number;
  maxEntries?: number;
  /** Names the budget in errors ("image reg/app:1"); default: the layer. */
  limitName?: string;
}
/** Unpacks one layer; reports what it unpacked so a pull can charge it to the image's budget. */
export type LayerApplier = (target: string, blob: Readable, opts: LayerApplyOptions) => Promise<{ size: number; entries: number } | void>;

/** An image's budget over every layer one pull unpacks (per-layer caps are the applier's). */
export interface ImageBudget {
  maxBytes: number;
  maxEntries: number;
}

export interface PullDeps {
  registry: Registry;
  content: BlobStore;
  snapshots: Snapshotter;
  applyLayer: LayerApplier;
  platform: PlatformSpec;
  /** Blobs fetched at once (at least 3). */
  concurrency: number;
  now: () => Date;
  /** Marks digests/chain ids in use by this operation until the returned function is called. */
  lease: (keys: string[]) => () => void;
  /** Caps on all the layers this pull unpacks (absent: only the per-layer caps). */
  budget?: ImageBudget;
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure aborts the rest. */
export async function parallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export interface PulledImage {
  record: ImageRecord;
  ref: Reference;
}

export async function pullImage(deps: PullDeps, input: string, opts: OperationOptions = {}): Promise<PulledImage> {
  const ref = parseReference(input);
  // One failure (a bad blob, a bad layer) stops every other download and apply of this pull,
  // and the pull returns only when they all have stopped, so nothing is left half-written.
  const inner = new AbortController();
  const onOuterAbort = (): void => inner.abort(opts.signal?.reason);
  if (opts.signal?.aborted) inner.abort(opts.signal.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = inner.signal;
  const progress: ProgressFn = opts.onProgress ?? (() => undefined);
  const releases: (() => void)[] = [];
  try {
    // 1. Manifest (through an index when the reference names one).
    let fetched = await deps.registry.resolve(ref, { signal });
    let parsed = parseManifest(fetched.bytes, fetched.descriptor.mediaType);
    if (parsed.kind === 'index') {
      const desc = selectPlatform(parsed.index, deps.platform);
      fetched = await deps.registry.fetchManifest(ref, desc.digest, { signal });
      parsed = parseManifest(fetched.bytes, fetched.descriptor.mediaType);
      if (parsed.kind !== 'manifest') throw errors.upstream(`${ref.familiar}: the index entry for ${desc.digest} is another index`);
    }
    const manifest: ImageManifest = parsed.manifest;
    const manifestDigest = fetched.descriptor.digest;
    for (const [i, l] of manifest.layers.entries()) {
      if (!isLayerMediaType(l.mediaType) || layerCompression(l.mediaType) === 'zstd') {
        throw errors.invalidArgument(`${ref.familiar}: layer ${i} has media type ${l.mediaType}, which this node cannot unpack`);
      }
    }
    releases.push(deps.lease([manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]));
    await deps.content.writeBytes(fetched.bytes);

    // 2. Config and layers, in parallel; layer i is applied once blobs 0..i are in.
    const blobs: Descriptor[] = [manifest.config, ...manifest.layers];
    const ready = blobs.map(() => deferred());
    for (const l of manifest.layers) progress({ id: short(l.digest), status: 'waiting' });
    const downloads = parallel(blobs, deps.concurrency, async (desc, i) => {
      try {
        await fetchBlob(deps, ref, desc, i > 0 ? progress : () => undefined, signal);
        ready[i]?.resolve();
      } catch (err) {
        ready[i]?.reject(err);
        throw err;
      }
    });
    // Waiters must not leave unhandled rejections when a download fails early.
    for (const r of ready) r.promise.catch(() => undefined);

    const applies = (async () => {
      await ready[0]?.promise;
      const config = parseImageConfig(await deps.content.readBytes(manifest.config.digest));
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw errors.upstream(`${ref.familiar}: the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`);
      }
      const chain = toChainIds(diffIds);
      releases.push(deps.lease(chain));
      let usedBytes = 0;
      let usedEntries = 0;
      for (const [i, layer] of manifest.layers.entries()) {
        await ready[i + 1]?.promise;
        signal?.throwIfAborted();
        const chainId = chain[i] as string;
        const id = short(layer.digest);
        if (await deps.snapshots.exists(chainId)) {
          progress({ id, status: 'done' });
          continue;
        }
        progress({ id, status: 'extracting' });
        await deps.snapshots.prepare(
          chainId,
          async (dir, sig) => {
            const stream = await deps.content.readStream(layer.digest);
            const b = deps.budget;
            const r = await deps.applyLayer(dir, stream, {
              expectedDiffId: diffIds[i] as string,
              ...(sig ? { signal: sig } : {}),
              ...(b ? { maxUncompressedBytes: b.maxBytes - usedBytes, maxEntries: b.maxEntries - usedEntries, limitName: `image ${ref.familiar}` } : {}),
            });
            usedBytes += r?.size ?? 0;
            usedEntries += r?.entries ?? 0;
          },
          signal,
        );
        progress({ id, status: 'done' });
      }
      return { config, chain };
    })();
    const settled = await Promise.allSettled([
      downloads.catch((err: unknown) => {
        inner.abort();
        throw err;
      }),
      applies.catch((err: unknown) => {
        inner.abort();
        throw err;
      }),
    ]);
    const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length > 0) {
      // The first real cause, not the cancellations it triggered in the others.
      throw failures.find((e) => !isShoalError(e, 'Canceled') && !(e instanceof Error && e.name === 'AbortError')) ?? failures[0];
    }
    const { config, chain } = (settled[1] as PromiseFulfilledResult<Awaited<typeof applies>>).value;

    const record: ImageRecord = {
      id: manifest.config.digest,
      manifestDigest,
      manifestMediaType: fetched.descriptor.mediaType,
      config: strip(manifest.config),
      layers: manifest.layers.map(strip),
      diffIds: config.rootfs.diff_ids,
      chainIds: chain,
      platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      size: manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0),
      addedAt: deps.now().toISOString(),
      ...(config.created ? { created: config.created } : {}),
    };
    if (sha256Digest(fetched.bytes) !== manifestDigest) {
      throw errors.dataLoss(`${ref.familiar}: manifest bytes do not match ${manifestDigest}`);
    }
    return { record, ref };
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    for (const r of releases) r();
  }
}

async function fetchBlob(deps: PullDeps, ref: Reference, desc: Descriptor, progress: ProgressFn, signal: AbortSignal | undefined): Promise<void> {
  const id = short(desc.digest);
  if (await deps.content.has(desc.digest)) {
    progress({ id, status: 'exists', current: desc.size, total: desc.size });
    return;
  }
  if (isNonDistributableLayer(desc.mediaType) && !desc.urls?.length) {
    throw errors.invalidArgument(`${ref.familiar}: non-distributable layer ${desc.digest} has no URL to fetch it from`);
  }
  let done = 0;
  progress({ id, status: 'downloading', current: 0, total: desc.size });
  await deps.content.ingest(
    { digest: desc.digest, size: desc.size },
    async (sig) => (await deps.registry.fetchBlob(ref, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType, ...(desc.urls ? { urls: desc.urls } : {}) }, { signal: sig })).stream,
    {
      ...(signal ? { signal } : {}),
      onProgress: ({ current: n }) => {
        // At most ~100 events per blob, and one per 256 KiB at least.
        if (n - done < Math.max(256 * 1024, desc.size / 100) && n < desc.size) return;
        done = n;
        progress({ id, status: 'downloading', current: done, total: desc.size });
      },
    },
  );
  progress({ id, status: 'verifying', current: desc.size, total: desc.size });
}

function strip(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls) out.urls = d.urls;
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
