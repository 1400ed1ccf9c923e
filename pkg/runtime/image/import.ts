/**
 * Import (as `docker import`): a root filesystem tar (plain or gzip) becomes a single-layer
 * image. One pass over the input computes the diff_id (sha256 of the uncompressed tar) while
 * gzipping it into a temp file and hashing the compressed bytes; the layer then goes into the
 * content store, gets unpacked into its snapshot, and a minimal OCI config and manifest are
 * written. The uncompressed size is capped (decompression bombs).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { errors } from '../../api/index.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { chainIds } from '../snapshots/chain-id.js';
import { sha256Digest } from '../oci/digest.js';
import type { ImageConfig } from '../oci/image-config.js';
import type { ImageManifest } from '../oci/manifest.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../oci/media-types.js';
import type { PlatformSpec } from '../oci/platform.js';
import type { BlobStore, LayerApplier } from './pull.js';
import type { ImageRecord } from './store.js';

export interface ImportDeps {
  content: BlobStore;
  snapshots: Snapshotter;
  applyLayer: LayerApplier;
  platform: PlatformSpec;
  /** Directory for the temp layer file (on the same filesystem as the content store). */
  tmpDir: string;
  maxLayerSize: number;
  now: () => Date;
  lease: (keys: string[]) => () => void;
}

class Counter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(errors.tooLarge(`the imported tar is over the layer size limit of ${this.limit} bytes`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

/** Gunzips when the stream starts with the gzip magic bytes, passes it through otherwise. */
function maybeGunzip(input: Readable): Readable {
  const out = new PassThrough();
  let decided = false;
  const onFirst = (chunk: Buffer): void => {
    decided = true;
    input.pause();
    input.unshift(chunk);
    const gz = chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b;
    const src = gz ? input.pipe(createGunzip()) : input;
    input.on('error', (e) => out.destroy(e));
    src.on('error', (e) => out.destroy(e));
    src.pipe(out);
    input.resume();
  };
  input.once('data', onFirst);
  input.once('end', () => {
    if (!decided) out.end();
  });
  input.once('error', (e) => {
    if (!decided) out.destroy(e);
  });
  return out;
}

export async function importImage(deps: ImportDeps, tar: NodeJS.ReadableStream, opts: { signal?: AbortSignal } = {}): Promise<ImageRecord> {
  await mkdir(deps.tmpDir, { recursive: true, mode: 0o700 });
  const tmp = join(deps.tmpDir, `import-${randomBytes(8).toString('hex')}.tar.gz`);
  const releases: (() => void)[] = [];
  try {
    const uncompressed = new Counter(deps.maxLayerSize);
    const compressed = new Counter(Number.MAX_SAFE_INTEGER);
    const input = maybeGunzip(tar as Readable);
    await pipeline(input, uncompressed, createGzip({ level: 6 }), compressed, createWriteStream(tmp, { mode: 0o600 }), opts.signal ? { signal: opts.signal } : {});
    if (uncompressed.bytes === 0) throw errors.invalidArgument('the imported tar is empty');
    const diffId = `sha256:${uncompressed.hash.digest('hex')}`;
    const layerDigest = `sha256:${compressed.hash.digest('hex')}`;
    const layerSize = compressed.bytes;
    releases.push(deps.lease([layerDigest, diffId]));
    await deps.content.ingest({ digest: layerDigest, size: layerSize }, async () => createReadStream(tmp), opts.signal ? { signal: opts.signal } : {});

    const [chainId] = chainIds([diffId]) as [string];
    await deps.snapshots.prepare(
      chainId,
      async (dir, sig) => {
        await deps.applyLayer(dir, await deps.content.readStream(layerDigest), { expectedDiffId: diffId, ...(sig ? { signal: sig } : {}) });
      },
      opts.signal,
    );

    const created = deps.now().toISOString();
    const config: ImageConfig = {
      created,
      architecture: deps.platform.architecture,
      os: deps.platform.os,
      ...(deps.platform.variant ? { variant: deps.platform.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'shoal import', comment: 'imported from a root filesystem tar' }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = (await deps.content.writeBytes(configBytes)).digest;
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: layerSize }],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = (await deps.content.writeBytes(manifestBytes)).digest;
    if (manifestDigest !== sha256Digest(manifestBytes)) throw errors.internal('content store returned an unexpected digest for the manifest');
    return {
      id: configDigest,
      manifestDigest,
      manifestMediaType: OCI_MANIFEST,
      config: manifest.config,
      layers: manifest.layers,
      diffIds: [diffId],
      chainIds: [chainId],
      platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      size: configBytes.length + layerSize,
      created,
      addedAt: created,
    };
  } finally {
    for (const r of releases) r();
    await rm(tmp, { force: true });
  }
}
