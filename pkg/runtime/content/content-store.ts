/**
 * The content store contract: immutable blobs addressed by digest. A blob is either absent or
 * complete and verified; partial data lives only in the ingest area and is never visible.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/manifest.js';

/** What the caller claims about a blob before it has it (OCI descriptor subset). */
export type ContentDescriptor = Pick<Descriptor, 'digest' | 'size'> & Partial<Pick<Descriptor, 'mediaType'>>;

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface IngestProgress {
  digest: string;
  /** Bytes received so far by the (possibly shared) download. */
  current: number;
  total: number;
}

export interface IngestOptions {
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

/** Opens the data of a blob; called at most once per actual download. */
export type BlobSource = (signal: AbortSignal) => Promise<Readable | AsyncIterable<Uint8Array>>;

export interface ContentStore {
  /**
   * Makes sure the blob is in the store. When present already, returns at once without calling
   * `source`. Otherwise streams `source` into the ingest area while hashing, and moves it into
   * place only when digest and size match (DataLoss otherwise, leaving nothing behind).
   * Concurrent calls for one digest share one download; each caller's signal only detaches that
   * caller, the download stops when every caller has gone.
   */
  ingest(desc: ContentDescriptor, source: BlobSource, opts?: IngestOptions): Promise<BlobInfo>;
  /** Stores bytes made locally (a manifest or config); verified against `expected` when given. */
  writeBytes(bytes: Uint8Array, expected?: Partial<ContentDescriptor>): Promise<BlobInfo>;
  /** NotFound when absent. */
  info(digest: string): Promise<BlobInfo>;
  has(digest: string): Promise<boolean>;
  /** NotFound when absent. */
  readStream(digest: string): Promise<Readable>;
  /** Whole blob in memory, for manifests and configs; TooLarge over `maxBytes` (default 4 MiB). */
  readBytes(digest: string, opts?: { maxBytes?: number }): Promise<Buffer>;
  /** True when a blob was removed. */
  delete(digest: string): Promise<boolean>;
  list(): AsyncIterable<BlobInfo>;
  /** Removes what a crashed ingest left behind; returns how many entries were removed. */
  cleanIngest(): Promise<number>;
}
