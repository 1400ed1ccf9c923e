/**
 * Heartbeats without one etcd write per beat: each node has an etcd lease (TTL = node
 * timeout) with the key `/shoal/v1/leases/nodes/<name>` attached. `beat` renews the lease
 * (a keep-alive, no key write); only when this controller holds no live lease for the node
 * (first beat, controller restart, beat landing on another controller, lease expired) does
 * it grant a lease and put the key (the put moves the key onto the new lease; the old one then
 * expires with nothing attached). The node monitor watches those keys: a missing key means
 * no controller took a beat for a whole timeout, except within a new leader's grace, when the
 * old controller's leases run out while agents reconnect (node-monitor/node-verdict.ts).
 */
import { isDnsSubdomain, isShoalError, ShoalError } from '../api/index.js';
import { KEY_ROOT, type Lease, type Store } from '../store/index.js';

export const NODE_LEASES_PREFIX = `${KEY_ROOT}leases/nodes/`;

export function nodeLeaseKey(name: string): string {
  return `${NODE_LEASES_PREFIX}${name}`;
}

/** Lease TTL for a node timeout: whole seconds, rounded up, at least 2. */
export function leaseTtlSeconds(nodeTimeoutMs: number): number {
  return Math.max(2, Math.ceil(nodeTimeoutMs / 1000));
}

export interface HeartbeatServiceOptions {
  store: Store;
  nodeTimeoutMs: number;
  /** Written into the lease key (which controller holds the lease). */
  controllerId?: string;
}

export class HeartbeatService {
  private readonly leases = new Map<string, Lease>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly ttl: number;

  constructor(private readonly opts: HeartbeatServiceOptions) {
    this.ttl = leaseTtlSeconds(opts.nodeTimeoutMs);
  }

  /** Records a heartbeat of `nodeName`. InvalidArgument for a name no Node can have; Unavailable when the store is down. */
  beat(nodeName: string): Promise<void> {
    if (!isDnsSubdomain(nodeName)) return Promise.reject(new ShoalError('InvalidArgument', `invalid node name ${JSON.stringify(nodeName)}`));
    const running = this.inflight.get(nodeName);
    if (running !== undefined) return running;
    const p = this.renew(nodeName).finally(() => this.inflight.delete(nodeName));
    this.inflight.set(nodeName, p);
    return p;
  }

  private async renew(name: string): Promise<void> {
    const lease = this.leases.get(name);
    if (lease !== undefined) {
      try {
        await lease.keepAlive();
        return;
      } catch (err) {
        if (!isShoalError(err, 'NotFound')) throw err;
        this.leases.delete(name);
      }
    }
    const fresh = await this.opts.store.grantLease(this.ttl);
    try {
      await this.opts.store.put(nodeLeaseKey(name), JSON.stringify({ node: name, holder: this.opts.controllerId ?? '', ttlSeconds: this.ttl }), { lease: fresh });
    } catch (err) {
      await fresh.revoke().catch(() => undefined);
      throw err;
    }
    this.leases.set(name, fresh);
  }

  /** Whether this controller renews `nodeName`'s lease (it has beaten here since it was checked to exist). */
  holds(nodeName: string): boolean {
    return this.leases.has(nodeName);
  }

  /** The node was deleted: its lease goes (its key with it), and its next beat is checked again. */
  forget(nodeName: string): void {
    const lease = this.leases.get(nodeName);
    this.leases.delete(nodeName);
    void lease?.revoke().catch(() => undefined);
  }

  /** Number of leases this controller renews (tests, metrics). */
  get size(): number {
    return this.leases.size;
  }

  /** Forgets the leases without revoking them: another controller takes over the beats, nodes stay up meanwhile. */
  close(): void {
    this.leases.clear();
  }
}
