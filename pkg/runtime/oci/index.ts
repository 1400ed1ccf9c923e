// The OCI image formats, as plain data and pure functions: digests, media types, descriptors,
// manifests and indexes, references, platforms and the image config. No I/O; image/ and
// registry/ both build on these, and this directory imports nothing else of the runtime.
export * from './digest.js';
export * from './reference.js';
export * from './media-types.js';
export * from './manifest.js';
export * from './platform.js';
export * from './image-config.js';
