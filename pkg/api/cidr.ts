/**
 * IPv4 addresses and CIDR blocks in numeric form: the one parser that API validation, the
 * controller's flags and pod-CIDR allocator, and node networking (bridges, IPAM) share.
 * Errors are InvalidArgument naming the text.
 */
import { isIP as nodeIsIP } from 'node:net';
import { errors } from './errors.js';

/** A CIDR block: `network` is its first address, `size` the number of addresses. */
export interface Cidr {
  /** Canonical text (`10.244.1.0/24`). */
  cidr: string;
  network: number;
  prefix: number;
  size: number;
}

export interface CidrOptions {
  /** Host bits must be zero (default true); false masks them off (`10.0.0.5/8` → `10.0.0.0/8`). */
  strict?: boolean;
  /** Allowed prefix lengths (default 0..32). */
  minPrefix?: number;
  maxPrefix?: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** `a.b.c.d` as a number; InvalidArgument otherwise. */
export function parseIPv4(text: string): number {
  const m = IPV4.exec(text);
  if (m === null) throw errors.invalidArgument(`"${text}" is not an IPv4 address`);
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

export function isIPv4(text: string): boolean {
  try {
    parseIPv4(text);
    return true;
  } catch {
    return false;
  }
}

/** An IPv4 or IPv6 address (node addresses may be either). */
export function isIP(text: string): boolean {
  return nodeIsIP(text) !== 0;
}

/** Parses `a.b.c.d/len`. */
export function parseCidr(text: string, opts: CidrOptions = {}): Cidr {
  const min = opts.minPrefix ?? 0;
  const max = opts.maxPrefix ?? 32;
  const [addr, len, extra] = text.split('/');
  const prefix = Number(len);
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,2}$/.test(len) || prefix < min || prefix > max) {
    throw errors.invalidArgument(`"${text}" is not an IPv4 CIDR a.b.c.d/len with len between ${min} and ${max} (e.g. 10.244.0.0/16)`);
  }
  const ip = parseIPv4(addr);
  const size = 2 ** (32 - prefix);
  const network = ip - (ip % size);
  if (network !== ip && opts.strict !== false) throw errors.invalidArgument(`CIDR "${text}" has host bits set (the block is ${formatCidr(network, prefix)})`);
  return { cidr: formatCidr(network, prefix), network, prefix, size };
}

/** True when `text` parses with `opts`. */
export function isCidr(text: string, opts: CidrOptions = {}): boolean {
  try {
    parseCidr(text, opts);
    return true;
  } catch {
    return false;
  }
}

export function formatCidr(network: number, prefix: number): string {
  return `${formatIPv4(network)}/${prefix}`;
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip < c.network + c.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}
