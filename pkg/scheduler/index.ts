export * from './filters/index.js';
export * from './node-info.js';
export * from './quantity.js';
export * from './schedule.js';
export * from './metrics.js';
export * from './scheduler-loop.js';
export * from './fixtures.js';
