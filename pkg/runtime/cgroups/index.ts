export * from './types.js';
export { detectCgroups, createCgroupManager } from './detect.js';
export { FakeCgroupManager } from './fake.js';
export { DEFAULT_DEVICE_RULES } from './devices.js';
