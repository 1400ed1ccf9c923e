export * from './store.js';
export * from './service.js';
export { pullImage, parallel, type BlobStore, type LayerApplier, type PullDeps, type PulledImage } from './pull.js';
export { pushImage, type PushDeps } from './push.js';
export { importImage, type ImportDeps } from './import.js';
