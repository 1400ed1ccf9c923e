export * from './x509.js';
export * from './seal.js';
export * from './tokens.js';
