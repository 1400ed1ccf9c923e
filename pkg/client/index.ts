export * from './http.js';
export * from './api-client.js';
export * from './engine-client.js';
export * from './snapshot-check.js';
export * from './endpoints.js';
export * from './credentials.js';
