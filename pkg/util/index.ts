export * from './atomic-file.js';
export * from './backoff.js';
