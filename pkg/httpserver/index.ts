export * from './errors.js';
export * from './client-gone.js';
export * from './ndjson.js';
export * from './query.js';
