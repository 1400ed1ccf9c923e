/**
 * Push: the image's config and layers are sent in parallel (each checked with HEAD first by the
 * registry client, so blobs already there are not re-sent), then the manifest, under the tag
 * of the reference. Returns the manifest digest the registry stored.
 */
import { PassThrough, type Readable } from 'node:stream';
import { errors } from '../../api/index.js';
import type { Registry } from '../registry/types.js';
import { isNonDistributableLayer } from '../oci/media-types.js';
import { shortDigest as short } from '../oci/digest.js';
import { parallel, type BlobStore } from './pull.js';
import type { Reference } from '../oci/reference.js';
import type { OperationOptions } from './service.js';
import type { ImageRecord } from './store.js';

export interface PushDeps {
  registry: Registry;
  content: BlobStore;
  concurrency: number;
}

export async function pushImage(deps: PushDeps, record: ImageRecord, ref: Reference, opts: OperationOptions = {}): Promise<string> {
  const signal = opts.signal;
  const progress = opts.onProgress ?? (() => undefined);
  if (!(await deps.content.has(record.manifestDigest))) {
    throw errors.failedPrecondition(`the manifest ${record.manifestDigest} of ${ref.familiar} is not in the content store: pull the image again`);
  }
  const blobs = [record.config, ...record.layers.filter((l) => !isNonDistributableLayer(l.mediaType))];
  for (const b of blobs.slice(1)) progress({ id: short(b.digest), status: 'waiting' });
  await parallel(blobs, deps.concurrency, async (desc, i) => {
    const id = short(desc.digest);
    const report = i > 0 ? progress : () => undefined;
    if (!(await deps.content.has(desc.digest))) {
      throw errors.failedPrecondition(`blob ${desc.digest} of ${ref.familiar} is missing from the content store: pull the image again`);
    }
    let last = 0;
    const r = await deps.registry.pushBlob(ref, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType }, () => streamOf(deps.content, desc.digest), {
      ...(signal ? { signal } : {}),
      onProgress: (done, total) => {
        if (done - last < Math.max(256 * 1024, total / 100) && done < total) return;
        last = done;
        report({ id, status: 'uploading', current: done, total });
      },
    });
    report({ id, status: r.status === 'exists' ? 'exists' : r.status === 'mounted' ? 'mounted' : 'pushed', current: desc.size, total: desc.size });
  });
  const manifest = await deps.content.readBytes(record.manifestDigest);
  const tag = ref.tag ?? ref.digest ?? 'latest';
  return deps.registry.pushManifest(ref, tag, record.manifestMediaType, manifest, signal ? { signal } : {});
}

/** pushBlob wants a synchronous opener; the content store opens asynchronously. */
function streamOf(content: BlobStore, digest: string): Readable {
  const out = new PassThrough();
  content.readStream(digest).then(
    (s) => {
      s.on('error', (e) => out.destroy(e));
      s.pipe(out);
    },
    (e: unknown) => out.destroy(e as Error),
  );
  return out;
}
