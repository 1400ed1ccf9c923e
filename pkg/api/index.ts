export * from './errors.js';
export * from './types.js';
export * from './quantity.js';
export * from './duration.js';
export * from './selectors.js';
export * from './validation.js';
export * from './tunnel.js';
