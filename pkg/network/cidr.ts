/**
 * The subnets node networking accepts for a bridge: IPv4 CIDRs from /8 to /30 with host bits
 * zero (parsed by pkg/api's one CIDR parser), and the gateway convention.
 */
import { errors, isShoalError, parseCidr, type Cidr } from '../api/index.js';

export type Subnet = Cidr;

/** Parses `a.b.c.d/len` (len 8..30); host bits must be zero. */
export function parseSubnet(cidr: string): Subnet {
  try {
    return parseCidr(cidr, { minPrefix: 8, maxPrefix: 30 });
  } catch (err) {
    if (!isShoalError(err)) throw err;
    throw errors.invalidArgument(`subnet ${err.message.replace(/^"[^"]*" /, `"${cidr}" `)}`);
  }
}

/** The gateway is the first host address of the subnet (the bridge's address). */
export function gatewayOf(subnet: Subnet): number {
  return subnet.network + 1;
}
