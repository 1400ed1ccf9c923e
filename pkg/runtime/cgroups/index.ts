export * from './types.js';
export { detectCgroups, createCgroupManager } from './detect.js';
export { FakeCgroupManager } from './fake.js';
