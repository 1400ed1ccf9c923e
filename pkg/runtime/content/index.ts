export type { BlobInfo, BlobSource, ContentDescriptor, ContentStore, IngestOptions, IngestProgress } from './content-store.js';
export { FileContentStore } from './file-content-store.js';
export { MemoryContentStore } from './memory-content-store.js';
