export * from './types.js';
export * from './client.js';
export * from './credentials.js';
export * from './endpoint.js';
export * from './challenge.js';
export * from './errors.js';
export { FakeRegistry, type FakeRegistryOptions } from './fake-registry.js';
