export * from './merge-patch.js';
export * from './deep-equal.js';
export * from './resource.js';
export * from './strategies.js';
export * from './registry.js';
