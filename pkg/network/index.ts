// Node networking's front door: what the agent, the engine API and tests outside use.
export { parseSubnet, type Subnet } from './cidr.js';
export { NETWORK_NAME_RE, type IpamStore } from './ipam-store.js';
export { parsePortSpec, type PortSpec, type Protocol } from './ports.js';
export { upstreamNameservers } from './nameservers.js';
export * from './plan.js';
export { RealNetHost, type NetHost } from './host.js';
export { BridgeNetwork, type BridgeNetworkOptions, type AttachOptions, type AttachResult } from './bridge-network.js';
export { ClusterRecords, DnsServer, type DnsServerOptions } from './dns/index.js';
export { bridgeNetworkHook, type NetworkHookOptions } from './hook.js';
export * from './cluster-spec.js';
export { createClusterDataplane } from './cluster-dataplane.js';
