export * from './node-monitor.js';
