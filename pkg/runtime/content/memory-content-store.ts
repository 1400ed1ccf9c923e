/**
 * An in-memory ContentStore for tests of the parts built on it (pull, image store, gc). Same
 * contract as FileContentStore: verification before visibility, shared concurrent ingests.
 */
import { Readable } from 'node:stream';
import { ShoalError } from '../../api/index.js';
import type { BlobInfo, BlobSource, ContentDescriptor, ContentStore, IngestOptions } from './content-store.js';
import { checkDigest, checkSize } from './digest.js';
import { sha256Digest } from '../oci/digest.js';
import { DEFAULT_READ_BYTES_LIMIT } from './file-content-store.js';

export class MemoryContentStore implements ContentStore {
  private readonly blobs = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<BlobInfo>>();
  /** How many times a source was actually read (for tests of download sharing). */
  downloads = 0;

  async ingest(desc: ContentDescriptor, source: BlobSource, opts: IngestOptions = {}): Promise<BlobInfo> {
    checkDigest(desc.digest);
    const size = checkSize(desc.size, desc.digest);
    if (opts.signal?.aborted === true) throw new ShoalError('Canceled', 'ingest canceled');
    const have = this.blobs.get(desc.digest);
    if (have !== undefined) return sized(desc.digest, have.length, size);
    let p = this.inflight.get(desc.digest);
    if (p === undefined) {
      p = this.download(desc.digest, size, source, opts).finally(() => this.inflight.delete(desc.digest));
      this.inflight.set(desc.digest, p);
    }
    const info = await p;
    return sized(desc.digest, info.size, size);
  }

  private async download(digest: string, size: number, source: BlobSource, opts: IngestOptions): Promise<BlobInfo> {
    this.downloads++;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of await source(opts.signal ?? new AbortController().signal)) {
      n += chunk.length;
      if (n > size) throw new ShoalError('DataLoss', `blob ${digest} is longer than its descriptor's ${size} bytes`);
      chunks.push(Buffer.from(chunk));
      opts.onProgress?.({ digest, current: n, total: size });
    }
    const bytes = Buffer.concat(chunks);
    if (bytes.length !== size) throw new ShoalError('DataLoss', `blob ${digest} is ${bytes.length} bytes, its descriptor says ${size}`);
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new ShoalError('DataLoss', `blob content does not match its digest: expected ${digest}, got ${actual}`);
    this.blobs.set(digest, bytes);
    return { digest, size };
  }

  async writeBytes(bytes: Uint8Array, expected: Partial<ContentDescriptor> = {}): Promise<BlobInfo> {
    const digest = sha256Digest(bytes);
    if (expected.digest !== undefined && expected.digest !== digest) {
      throw new ShoalError('DataLoss', `content does not match its digest: expected ${expected.digest}, got ${digest}`);
    }
    if (expected.size !== undefined && expected.size !== bytes.byteLength) {
      throw new ShoalError('DataLoss', `content of ${digest} is ${bytes.byteLength} bytes, expected ${expected.size}`);
    }
    this.blobs.set(digest, Buffer.from(bytes));
    return { digest, size: bytes.byteLength };
  }

  async info(digest: string): Promise<BlobInfo> {
    checkDigest(digest);
    const b = this.blobs.get(digest);
    if (b === undefined) throw new ShoalError('NotFound', `blob ${digest} not found in the content store`);
    return { digest, size: b.length };
  }

  async has(digest: string): Promise<boolean> {
    checkDigest(digest);
    return this.blobs.has(digest);
  }

  async readStream(digest: string): Promise<Readable> {
    await this.info(digest);
    return Readable.from([this.blobs.get(digest) ?? Buffer.alloc(0)]);
  }

  async readBytes(digest: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const { size } = await this.info(digest);
    const max = opts.maxBytes ?? DEFAULT_READ_BYTES_LIMIT;
    if (size > max) throw new ShoalError('TooLarge', `blob ${digest} is ${size} bytes, over the ${max}-byte limit for reading it whole`);
    return Buffer.from(this.blobs.get(digest) ?? Buffer.alloc(0));
  }

  async delete(digest: string): Promise<boolean> {
    checkDigest(digest);
    return this.blobs.delete(digest);
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const digest of [...this.blobs.keys()].sort()) {
      const b = this.blobs.get(digest);
      if (b !== undefined) yield { digest, size: b.length };
    }
  }

  async cleanIngest(): Promise<number> {
    return 0;
  }
}

function sized(digest: string, actual: number, claimed: number): BlobInfo {
  if (actual !== claimed) throw new ShoalError('DataLoss', `blob ${digest} is ${actual} bytes, the descriptor says ${claimed}`);
  return { digest, size: actual };
}
