export { DnsServer, type DnsServerOptions } from './server.js';
export { parseQuery, buildQuery, buildReply, parseReply, encodeName, DnsFormatError, RCODE, TYPE_A, TYPE_AAAA, CLASS_IN, type DnsQuery, type DnsQuestion } from './wire.js';
