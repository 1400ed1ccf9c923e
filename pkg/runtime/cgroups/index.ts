export * from './types.js';
export { detectCgroups, createCgroupManager } from './detect.js';
export { CgroupV1Manager, DEFAULT_DEVICE_RULES, CPU_PERIOD_US, V1_CONTROLLERS, type V1Controller } from './v1.js';
export { CgroupV2Manager, sharesToWeight } from './v2.js';
export { FakeCgroup, FakeCgroupManager } from './fake.js';
