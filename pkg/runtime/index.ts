// The runtime's public API. Each subsystem exports from its own index; add a line per subsystem
// (watch for name clashes: the container's ImageConfig is not the image's ImageConfig).
export * from './image/index.js';
export * from './snapshots/index.js';
export * from './registry/index.js';
export * from './content/index.js';
export * from './layer/index.js';
