export * from './authz.js';
export * from './bootstrap.js';
export * from './cluster-security.js';
export * from './records.js';
