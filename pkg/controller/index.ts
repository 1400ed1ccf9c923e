export * from './etcd-supervisor.js';
export * from './heartbeat.js';
export * from './leader.js';
export * from './loops.js';
export * from './pod-cidr.js';
export * from './node-monitor/index.js';
export * from './orchestrator/index.js';
export * from './api/index.js';
