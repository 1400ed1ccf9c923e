export * from './node-monitor.js';
export * from './node-verdict.js';
