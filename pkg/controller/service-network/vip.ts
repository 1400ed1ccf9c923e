/**
 * Virtual IPs out of `--service-cidr` (pure). The allocator holds which service owns which
 * address; `claim` keeps an address a service already has (when it is inside the range, not
 * the network or broadcast address, and nobody else's), `allocate` gives the next free one
 * (next-fit from the last given, so an address just freed is not handed out again at once),
 * `release` frees a service's. O(1) per call but for `allocate`'s scan over taken addresses.
 */
import { errors, formatIPv4, parseCidr, parseIPv4, ShoalError } from '../../api/index.js';

export class VipAllocator {
  private readonly byIp = new Map<number, string>();
  private readonly byKey = new Map<string, number>();
  private readonly first: number;
  private readonly last: number;
  private next: number;

  constructor(readonly cidr: string) {
    const c = parseCidr(cidr, { strict: false });
    if (c.prefix > 30) throw new ShoalError('InvalidArgument', `service CIDR ${cidr} is too small: want /30 or larger`);
    this.first = c.network + 1;
    this.last = c.network + 2 ** (32 - c.prefix) - 2;
    this.next = this.first;
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  get used(): number {
    return this.byKey.size;
  }

  /** The address `key` holds, if any. */
  of(key: string): string | undefined {
    const n = this.byKey.get(key);
    return n === undefined ? undefined : formatIPv4(n);
  }

  /** Keeps `ip` for `key` if it is valid and free (or already its own); false otherwise. */
  claim(key: string, ip: string): boolean {
    let n: number;
    try {
      n = parseIPv4(ip);
    } catch {
      return false;
    }
    if (n < this.first || n > this.last) return false;
    const owner = this.byIp.get(n);
    if (owner !== undefined && owner !== key) return false;
    this.release(key);
    this.byIp.set(n, key);
    this.byKey.set(key, n);
    return true;
  }

  /** A free address for `key` (its own when it has one). Unavailable when the range is full. */
  allocate(key: string): string {
    const own = this.byKey.get(key);
    if (own !== undefined) return formatIPv4(own);
    const size = this.size;
    for (let i = 0; i < size; i++) {
      const n = this.first + ((this.next - this.first + i) % size);
      if (this.byIp.has(n)) continue;
      this.byIp.set(n, key);
      this.byKey.set(key, n);
      this.next = n + 1 > this.last ? this.first : n + 1;
      return formatIPv4(n);
    }
    throw errors.unavailable(`the service CIDR ${this.cidr} is exhausted: ${size} virtual IPs are in use`);
  }

  release(key: string): void {
    const n = this.byKey.get(key);
    if (n === undefined) return;
    this.byKey.delete(key);
    this.byIp.delete(n);
  }
}
