/**
 * OCI image indexes and manifests and their Docker schema 2 counterparts (manifest list and
 * manifest): types and a validating parser. The parser checks shapes, not policy: which layer
 * types can be unpacked is the puller's business.
 */
import { ShoalError } from '../../api/index.js';
import { isDigest, type Digest } from './digest.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1_MANIFEST,
  DOCKER_SCHEMA1_SIGNED_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  isAnyManifestMediaType,
  isIndexMediaType,
  type IndexMediaType,
  type ManifestMediaType,
} from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: IndexMediaType; index: ImageIndex }
  | { kind: 'manifest'; mediaType: ManifestMediaType; manifest: ImageManifest };

/** Manifests larger than this are refused (containerd uses the same bound). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/** Drops parameters (`; charset=utf-8`) and lower-cases a Content-Type. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function bad(field: string, why: string): ShoalError {
  return new ShoalError('InvalidArgument', `invalid manifest: ${field ? `${field}: ` : ''}${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStringMap(v: unknown, field: string): void {
  if (v === undefined) return;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw bad(field, 'must be a map of strings');
}

function checkPlatform(v: unknown, field: string): void {
  if (v === undefined) return;
  if (!isObject(v)) throw bad(field, 'must be an object');
  if (typeof v.architecture !== 'string' || v.architecture === '') throw bad(`${field}.architecture`, 'required string');
  if (typeof v.os !== 'string' || v.os === '') throw bad(`${field}.os`, 'required string');
  if (v.variant !== undefined && typeof v.variant !== 'string') throw bad(`${field}.variant`, 'must be a string');
}

/** Validates one descriptor (mediaType, digest, size, urls, annotations, platform). */
export function checkDescriptor(v: unknown, field: string): Descriptor {
  if (!isObject(v)) throw bad(field, 'descriptor must be an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw bad(`${field}.mediaType`, 'required string');
  if (!isDigest(v.digest)) throw bad(`${field}.digest`, `invalid digest ${JSON.stringify(v.digest)}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw bad(`${field}.size`, `must be a non-negative integer, got ${JSON.stringify(v.size)}`);
  }
  if (v.urls !== undefined && (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string'))) {
    throw bad(`${field}.urls`, 'must be a list of strings');
  }
  checkStringMap(v.annotations, `${field}.annotations`);
  checkPlatform(v.platform, `${field}.platform`);
  return v as unknown as Descriptor;
}

/** The media type of manifest bytes, from the Content-Type or else from the document itself. */
export function detectManifestMediaType(doc: Record<string, unknown>, contentType: string | undefined): string {
  const ct = baseMediaType(contentType);
  if (!GENERIC_TYPES.has(ct)) return ct;
  if (typeof doc.mediaType === 'string' && doc.mediaType !== '') return doc.mediaType;
  if (Array.isArray(doc.manifests)) return OCI_INDEX;
  if (isObject(doc.config) && Array.isArray(doc.layers)) return OCI_MANIFEST;
  if (doc.schemaVersion === 1) return DOCKER_SCHEMA1_MANIFEST;
  return ct;
}

/**
 * Parses manifest bytes delivered with `contentType` (the registry's Content-Type; when it is
 * missing or generic, the document's own `mediaType` or its shape decides). Throws
 * InvalidArgument naming the field for malformed documents and Unimplemented for schema 1.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ShoalError('TooLarge', `manifest of ${bytes.length} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (err) {
    throw bad('', `not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw bad('', 'must be a JSON object');
  const mediaType = detectManifestMediaType(doc, contentType);
  if (mediaType === DOCKER_SCHEMA1_MANIFEST || mediaType === DOCKER_SCHEMA1_SIGNED_MANIFEST || doc.schemaVersion === 1) {
    throw new ShoalError('Unimplemented', 'Docker image manifest schema 1 is not supported (push the image again with a current client)');
  }
  if (!isAnyManifestMediaType(mediaType)) {
    throw bad('', `unsupported media type "${mediaType || '(none)'}"`);
  }
  if (doc.schemaVersion !== 2) throw bad('schemaVersion', `must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  if (doc.mediaType !== undefined) {
    if (typeof doc.mediaType !== 'string') throw bad('mediaType', 'must be a string');
    if (doc.mediaType !== mediaType) {
      throw bad('mediaType', `"${doc.mediaType}" does not match the content type "${mediaType}"`);
    }
  } else if (mediaType === DOCKER_MANIFEST || mediaType === DOCKER_MANIFEST_LIST) {
    throw bad('mediaType', `required for ${mediaType}`);
  }
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw bad('artifactType', 'must be a string');
  checkStringMap(doc.annotations, 'annotations');

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw bad('manifests', 'required list of descriptors');
    doc.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`));
    if (doc.config !== undefined || doc.layers !== undefined) throw bad('', 'an index must not have config or layers');
    return { kind: 'index', mediaType, index: doc as unknown as ImageIndex };
  }
  const m = mediaType as ManifestMediaType;
  checkDescriptor(doc.config, 'config');
  if (!Array.isArray(doc.layers)) throw bad('layers', 'required list of descriptors');
  doc.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`));
  if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject');
  if (doc.manifests !== undefined) throw bad('', 'an image manifest must not have manifests');
  return { kind: 'manifest', mediaType: m, manifest: doc as unknown as ImageManifest };
}
