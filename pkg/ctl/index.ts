export * from './context.js';
export * from './output.js';
export { buildProgram } from './program.js';
export * from './config.js';
export * from './manifest.js';
