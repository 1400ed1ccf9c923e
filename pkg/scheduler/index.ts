export * from './constraints.js';
export * from './filters/index.js';
export * from './node-info.js';
export * from './quantity.js';
export * from './schedule.js';
