/**
 * Media types of the OCI image spec and Docker's image manifest v2 schema 2, and what each
 * says about the content it labels (index or manifest, layer compression, distributable).
 */

// OCI image spec
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const OCI_LAYER_NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
export const OCI_LAYER_NONDISTRIBUTABLE_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
export const OCI_LAYER_NONDISTRIBUTABLE_ZSTD = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

// Docker image manifest v2, schema 2
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_LAYER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
export const DOCKER_FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
// Docker schema 1 (not supported; named only to give a clear error)
export const DOCKER_SCHEMA1_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

export type IndexMediaType = typeof OCI_INDEX | typeof DOCKER_MANIFEST_LIST;
export type ManifestMediaType = typeof OCI_MANIFEST | typeof DOCKER_MANIFEST;

/** The Accept header of a manifest GET: every manifest type Shoal understands. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST];
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export function isIndexMediaType(mt: string): mt is IndexMediaType {
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}

export function isManifestMediaType(mt: string): mt is ManifestMediaType {
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST;
}

/** Index or image manifest of either family. */
export function isAnyManifestMediaType(mt: string): boolean {
  return isIndexMediaType(mt) || isManifestMediaType(mt);
}

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYERS: Record<string, { compression: LayerCompression; distributable: boolean }> = {
  [OCI_LAYER]: { compression: 'none', distributable: true },
  [OCI_LAYER_GZIP]: { compression: 'gzip', distributable: true },
  [OCI_LAYER_ZSTD]: { compression: 'zstd', distributable: true },
  [OCI_LAYER_NONDISTRIBUTABLE]: { compression: 'none', distributable: false },
  [OCI_LAYER_NONDISTRIBUTABLE_GZIP]: { compression: 'gzip', distributable: false },
  [OCI_LAYER_NONDISTRIBUTABLE_ZSTD]: { compression: 'zstd', distributable: false },
  [DOCKER_LAYER]: { compression: 'none', distributable: true },
  [DOCKER_LAYER_GZIP]: { compression: 'gzip', distributable: true },
  [DOCKER_LAYER_ZSTD]: { compression: 'zstd', distributable: true },
  [DOCKER_FOREIGN_LAYER]: { compression: 'gzip', distributable: false },
};

export function isLayerMediaType(mt: string): boolean {
  return Object.hasOwn(LAYERS, mt);
}

/** Compression of a layer media type, or undefined when `mt` is not a known layer type. */
export function layerCompression(mt: string): LayerCompression | undefined {
  return Object.hasOwn(LAYERS, mt) ? LAYERS[mt]?.compression : undefined;
}

/**
 * Foreign (Docker) and non-distributable (OCI) layers: a registry may not hold them; they are
 * fetched from the descriptor's `urls` when present, and never pushed.
 */
export function isNonDistributableLayer(mt: string): boolean {
  return LAYERS[mt]?.distributable === false;
}
