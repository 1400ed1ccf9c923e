export { parseIPv4, formatIPv4, parseSubnet, gatewayOf, overlaps, contains, type Subnet } from './cidr.js';
export { emptyIpam, reserve, release, retain, type IpamState, type Reservation } from './ipam.js';
export { Ipam, DiskIpamStore, MemoryIpamStore, type IpamStore } from './ipam-store.js';
export { parsePortSpec, portsClash, formatPort, type PortSpec, type Protocol } from './ports.js';
export { hostsFile, hostnameFile, resolvConf, upstreamNameservers, type HostsInput, type ResolvConf } from './etc-files.js';
export * from './plan.js';
export { RealNetHost, type NetHost } from './host.js';
export { FakeNetHost } from './fake-host.js';
export { BridgeNetwork, type BridgeNetworkOptions, type AttachOptions, type AttachResult, type NetworkInfo } from './bridge-network.js';
