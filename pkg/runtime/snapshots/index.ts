export { chainIds, isDigest } from './chain-id.js';
export { Snapshotter, type ApplyFn } from './snapshotter.js';
