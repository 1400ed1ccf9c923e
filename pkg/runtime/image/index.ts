export * from './store.js';
export * from './service.js';
export type { BlobStore, LayerApplier, PullDeps, PulledImage } from './pull.js';
export type { PushDeps } from './push.js';
export type { ImportDeps } from './import.js';
