export { DnsServer, type DnsServerOptions } from './server.js';
export { ClusterRecords } from './cluster-records.js';
