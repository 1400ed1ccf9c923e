export * from './atomic-file.js';
export * from './backoff.js';
export * from './disk-full.js';
export * from './ndjson.js';
export * from './read-text.js';
export * from './settle.js';
export * from './oom.js';
