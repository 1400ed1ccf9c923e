export { applyLayer } from './apply-layer.js';
export type { ApplyLayerOptions, ApplyLayerResult, ApplyProgress, WhiteoutMode } from './apply-layer.js';
export type { Compression } from './decompress.js';
export type { EntryClass } from './entry-path.js';
export type { FsOps, NodeKind } from './fsops.js';
