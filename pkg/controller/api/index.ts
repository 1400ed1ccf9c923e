export * from './server.js';
export * from './deps.js';
export * from './body.js';
export { fileAuditSink, type AuditRecord, type AuditSink } from './audit.js';
