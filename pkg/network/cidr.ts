import { errors } from '../api/index.js';

/** An IPv4 subnet in numeric form. `network` is the first address, `size` the number of addresses. */
export interface Subnet {
  cidr: string;
  network: number;
  prefix: number;
  size: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIPv4(text: string): number {
  const m = IPV4.exec(text);
  if (!m) throw errors.invalidArgument(`"${text}" is not an IPv4 address`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) throw errors.invalidArgument(`"${text}" is not an IPv4 address`);
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/len` (len 8..30); host bits must be zero. */
export function parseSubnet(cidr: string): Subnet {
  const [addr, len, extra] = cidr.split('/');
  const prefix = Number(len);
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d+$/.test(len) || prefix < 8 || prefix > 30) {
    throw errors.invalidArgument(`subnet "${cidr}" must be an IPv4 CIDR a.b.c.d/len with len between 8 and 30`);
  }
  const network = parseIPv4(addr);
  const size = 2 ** (32 - prefix);
  if (network % size !== 0) throw errors.invalidArgument(`subnet "${cidr}" has host bits set`);
  return { cidr, network, prefix, size };
}

export function contains(subnet: Subnet, ip: number): boolean {
  return ip >= subnet.network && ip < subnet.network + subnet.size;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

/** The gateway is the first host address of the subnet (the bridge's address). */
export function gatewayOf(subnet: Subnet): number {
  return subnet.network + 1;
}
