export { DnsServer, type DnsServerOptions } from './server.js';
