/**
 * The image service: what the engine API and the container runtime use of images. It ties the
 * registry client, the content store, layer apply, snapshots and the metadata store together
 * (pull, push, import, list, inspect, tag, remove, gc). The types here are the engine API's
 * JSON shapes for images.
 */
import type { ImageRuntimeConfig } from './image-config.js';

/** One progress event of a pull or push, per layer (or config) blob. */
export interface LayerProgress {
  /** Short digest (12 hex characters) of the blob. */
  id: string;
  status: 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'exists' | 'uploading' | 'pushed' | 'mounted';
  current?: number;
  total?: number;
}

export type ProgressFn = (ev: LayerProgress) => void;

export interface OperationOptions {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

/** Docker-shaped image summary (`GET /v1/images`). */
export interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Size: number;
}

/** Docker-shaped image inspect (`GET /v1/images/:ref/json`). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Size: number;
  Config: ImageRuntimeConfig;
  RootFS: { Type: 'layers'; Layers: string[] };
  Manifest: { Digest: string; MediaType: string; Layers: { mediaType: string; digest: string; size: number }[] };
  GraphDriver: { Name: 'overlay'; Data: { ChainIds: string[]; LowerDirs: string[] } };
}

export interface PullResult {
  ref: string;
  digest: string;
  id: string;
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
}

/** What the engine API needs of images; ImageService implements it, tests use fakes. */
export interface ImageApi {
  pull(ref: string, opts?: OperationOptions): Promise<PullResult>;
  push(ref: string, opts?: OperationOptions): Promise<PullResult>;
  list(): Promise<ImageSummary[]>;
  inspect(refOrId: string): Promise<ImageInspect>;
  tag(source: string, target: string): Promise<void>;
  remove(refOrId: string, opts?: { force?: boolean }): Promise<RemoveResult>;
  importTar(tar: NodeJS.ReadableStream, ref: string, opts?: { signal?: AbortSignal }): Promise<PullResult>;
  login(registry: string, username: string, password: string, opts?: { signal?: AbortSignal }): Promise<void>;
}
