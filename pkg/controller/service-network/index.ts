export { runServiceNetworkLoop, COALESCE_MS, type ServiceNetworkLoopOptions } from './loop.js';
export { VipAllocator } from './vip.js';
export { endpointsSpec, isEndpoint, isServed, wantsVip } from './endpoints.js';
