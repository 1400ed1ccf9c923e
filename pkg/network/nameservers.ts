/**
 * Which nameservers a container on a bridge network uses: the network's own choice. The
 * resolv.conf text itself (parsing and writing it) is the runtime's (`parseResolvConf`,
 * `resolvConfFile` in pkg/runtime); the embedded DNS forwards to `upstreamNameservers`.
 */
import { parseResolvConf } from '../runtime/index.js';

function isLoopback(ns: string): boolean {
  return ns.startsWith('127.') || ns === '::1' || ns === '0.0.0.0';
}

/** The host's nameservers that work from another network namespace (loopback ones removed). */
export function upstreamNameservers(hostResolvConf: string): string[] {
  return parseResolvConf(hostResolvConf).nameservers.filter((n) => !isLoopback(n));
}

/**
 * A container's nameservers: with `embeddedDns` (the gateway of a user network whose DNS runs)
 * only that server, as Docker does (it forwards to the upstreams); else the host's usable
 * ones, which may be none when the host has only loopback ones.
 */
export function containerNameservers(hostResolvConf: string, embeddedDns?: string): string[] {
  return embeddedDns !== undefined ? [embeddedDns] : upstreamNameservers(hostResolvConf);
}
