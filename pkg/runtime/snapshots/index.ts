export { chainIds } from './chain-id.js';
export { Snapshotter, type ApplyFn } from './snapshotter.js';
