export * from './reconcile.js';
export * from './task-factory.js';
export * from './orchestrator-loop.js';
