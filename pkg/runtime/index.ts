// The runtime's public API (its front door: other packages import only this file). Each
// subsystem exports from its own index; add a line per subsystem and keep names distinct.
export * from './oci/index.js';
export * from './image/index.js';
export * from './snapshots/index.js';
export * from './registry/index.js';
export * from './content/index.js';
export * from './layer/index.js';
export * from './cgroups/index.js';
export * from './container/index.js';
export * from './helper/index.js';
export * from './rootfs/index.js';
