import { errors, formatIPv4 } from '../api/index.js';
import { gatewayOf, parseSubnet } from './cidr.js';

/**
 * The IPAM state of one network: plain data, persisted as JSON. `last` is the offset of the
 * address handed out last, so allocation is next-fit: a just-released address is only reused
 * after the whole range has been walked.
 */
export interface IpamState {
  subnet: string;
  /** containerId → dotted address. */
  leases: Record<string, string>;
  /** Offset (from the network address) of the last allocation. */
  last: number;
}

export function emptyIpam(subnet: string): IpamState {
  parseSubnet(subnet);
  return { subnet, leases: {}, last: 1 };
}

export interface Reservation {
  state: IpamState;
  ip: string;
}

/**
 * Reserves an address for `containerId`: idempotent (the same container keeps its address).
 * Skips the network address, the gateway (first host) and the broadcast address.
 * Throws Unavailable when the subnet is exhausted.
 */
export function reserve(state: IpamState, containerId: string): Reservation {
  const existing = state.leases[containerId];
  if (existing !== undefined) return { state, ip: existing };
  const subnet = parseSubnet(state.subnet);
  const gateway = gatewayOf(subnet) - subnet.network;
  const used = new Set(Object.values(state.leases));
  const hosts = subnet.size - 2; // offsets 1 .. size-2
  for (let step = 1; step <= hosts; step++) {
    const offset = ((state.last - 1 + step) % hosts) + 1;
    if (offset === gateway) continue;
    const ip = formatIPv4(subnet.network + offset);
    if (used.has(ip)) continue;
    return { state: { subnet: state.subnet, leases: { ...state.leases, [containerId]: ip }, last: offset }, ip };
  }
  throw errors.unavailable(`no free address left in subnet ${state.subnet} (${Object.keys(state.leases).length} in use)`);
}

/** Releases the address of `containerId`; releasing an unknown container is a no-op. */
export function release(state: IpamState, containerId: string): IpamState {
  if (!(containerId in state.leases)) return state;
  const leases = { ...state.leases };
  delete leases[containerId];
  return { ...state, leases };
}

/** Drops the leases of containers that no longer exist. */
export function retain(state: IpamState, keep: ReadonlySet<string>): IpamState {
  const leases: Record<string, string> = {};
  for (const [id, ip] of Object.entries(state.leases)) if (keep.has(id)) leases[id] = ip;
  return { ...state, leases };
}
