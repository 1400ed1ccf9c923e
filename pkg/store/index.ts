export * from './store.js';
export * from './clock.js';
export * from './async-queue.js';
export * from './election.js';
export * from './memory-store.js';
export * from './informer.js';
export * from './etcd-store.js';
export * from './etcd-errors.js';
