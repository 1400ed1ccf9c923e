export * from './etcd-supervisor.js';
