export * from './driver.js';
export * from './native-driver.js';
export * from './state-files.js';
export * from './wire.js';
