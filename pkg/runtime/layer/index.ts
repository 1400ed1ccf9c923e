export { applyLayer, DEFAULT_MAX_UNCOMPRESSED_BYTES } from './apply-layer.js';
export type { ApplyLayerOptions, ApplyLayerResult, ApplyProgress, WhiteoutMode } from './apply-layer.js';
export { detectCompression, type Compression } from './decompress.js';
export { entryComponents, classifyEntry, type EntryClass } from './entry-path.js';
export { NativeFsOps, findFsopsBinary, FSOPS_BINARY, type FsOps, type NodeKind } from './fsops.js';
