export type { ApplyFn } from './snapshotter.js';
