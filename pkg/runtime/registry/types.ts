/**
 * The registry client's contract: streaming primitives over the OCI distribution API, with no
 * knowledge of where content ends up. The pull/push orchestration is built on this interface
 * (and tests it with a fake).
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Reference, Repository } from '../oci/reference.js';

export interface Signal {
  signal?: AbortSignal | undefined;
}

/** What the registry said of a manifest it served (an OCI descriptor's core). */
export type ManifestDescriptor = Pick<Descriptor, 'mediaType' | 'digest' | 'size'>;

/** The part of an OCI descriptor a blob transfer needs. */
export type BlobDescriptor = Pick<Descriptor, 'digest' | 'size'> & Partial<Pick<Descriptor, 'mediaType' | 'urls'>>;

export interface FetchedManifest {
  descriptor: ManifestDescriptor;
  bytes: Buffer;
}

export interface FetchedBlob {
  /** The blob's bytes from `offset`; unverified: the caller checks them (createDigestVerifier) and must consume or destroy the stream. */
  stream: Readable;
  /** Bytes the stream will deliver (the registry's Content-Length, else size - offset). */
  size: number;
}

export interface FetchBlobOptions extends Signal {
  /** Resume from this byte (HTTP Range). */
  offset?: number;
}

export interface PushBlobOptions extends Signal {
  /** Above this size a blob is sent in PATCH chunks of this size (default 16 MiB). */
  chunkSize?: number;
  /** Called as bytes are sent (and once with done = total when the blob was already there). */
  onProgress?: (done: number, total: number) => void;
  /** Try a cross-repository mount from this repository of the same registry first. */
  mountFrom?: string;
}

export interface PushBlobResult {
  digest: Digest;
  size: number;
  /** `exists`: HEAD found it; `mounted`: cross-repo mount; `uploaded`: bytes were sent. */
  status: 'exists' | 'mounted' | 'uploaded';
}

export interface Registry {
  /** GET the manifest of a tag or digest reference (Accept: every manifest type), verified. */
  resolve(ref: Reference, opts?: Signal): Promise<FetchedManifest>;
  fetchManifest(repo: Repository, digest: Digest, opts?: Signal): Promise<FetchedManifest>;
  fetchBlob(repo: Repository, desc: BlobDescriptor, opts?: FetchBlobOptions): Promise<FetchedBlob>;
  blobExists(repo: Repository, digest: Digest, opts?: Signal): Promise<boolean>;
  pushBlob(repo: Repository, desc: BlobDescriptor, open: () => Readable, opts?: PushBlobOptions): Promise<PushBlobResult>;
  /** PUT a manifest under a tag or digest; returns its digest. */
  pushManifest(repo: Repository, tagOrDigest: string, mediaType: string, bytes: Uint8Array, opts?: Signal): Promise<Digest>;
  /** Checks credentials against `GET /v2/` of `domain` (following its challenge); saving them is the caller's job. */
  login(domain: string, username: string, password: string, opts?: Signal): Promise<void>;
}
