export * from './resource.js';
export * from './strategies.js';
export * from './registry.js';
export * from './secrets.js';
