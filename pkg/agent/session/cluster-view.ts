/**
 * The node's view of the cluster network (pure): from this node, the Node objects and the
 * Endpoints objects, the ClusterNetworkSpec its dataplane and DNS are programmed from.
 * `ClusterNetworkApplier` recomputes it a moment after a change (debounced) and hands it to the
 * dataplane only when it differs from the last one applied, one application at a time; a
 * failure is logged and retried with backoff.
 */
import { namespacedName, toShoalError, type Endpoints, type Node } from '../../api/index.js';
import type { ClusterNetworkSpec, MeshService, OverlayPeer, OverlaySelf } from '../../network/index.js';
import type { SessionLogger } from './logger.js';

export function clusterNetworkSpec(self: OverlaySelf, nodes: Iterable<Node>, endpoints: Iterable<Endpoints>): ClusterNetworkSpec {
  const peers: OverlayPeer[] = [];
  for (const n of nodes) {
    const ov = n.status.overlay;
    const cidr = n.spec.podCIDR;
    if (n.metadata.name === self.nodeName || ov === undefined || cidr === undefined || cidr === '' || cidr === self.podCIDR) continue;
    peers.push({ nodeName: n.metadata.name, podCIDR: cidr, address: ov.address, vtepMAC: ov.vtepMAC, port: ov.port });
  }
  peers.sort((a, b) => (a.nodeName < b.nodeName ? -1 : 1));
  const services: MeshService[] = [];
  for (const e of endpoints) {
    const ns = e.metadata.namespace ?? 'default';
    const s: MeshService = {
      key: namespacedName(ns, e.metadata.name),
      namespace: ns,
      name: e.metadata.name,
      endpointMode: e.spec.endpointMode,
      networks: e.spec.networks.map((n) => namespacedName(ns, n)).sort(),
      ingress: e.spec.ingress.map((p) => ({ protocol: p.protocol === 'UDP' ? 'udp' : 'tcp', port: p.port, targetPort: p.targetPort })),
      endpoints: e.spec.addresses.map((a) => ({ ip: a.ip, taskName: a.taskName, nodeName: a.nodeName })),
    };
    if (e.spec.virtualIP !== undefined && e.spec.endpointMode === 'vip') s.virtualIP = e.spec.virtualIP;
    services.push(s);
  }
  services.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { self, peers, services };
}

export interface ClusterNetworkApplierOptions {
  apply(spec: ClusterNetworkSpec): Promise<void>;
  /** The spec now; undefined while it cannot be known (no podCIDR, lists not read yet). */
  compute(): ClusterNetworkSpec | undefined;
  log: SessionLogger;
  signal: AbortSignal;
  /** Default 20 ms. */
  debounceMs?: number;
  /** First retry delay after a failure (doubles up to 5 s). Default 200 ms. */
  retryMs?: number;
}

export class ClusterNetworkApplier {
  private timer: NodeJS.Timeout | undefined;
  private applied: string | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failures = 0;

  constructor(private readonly opts: ClusterNetworkApplierOptions) {}

  schedule(delayMs = this.opts.debounceMs ?? 20): void {
    if (this.timer !== undefined || this.opts.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.chain = this.chain.then(() => this.applyNow());
    }, delayMs);
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.chain;
  }

  private async applyNow(): Promise<void> {
    if (this.opts.signal.aborted) return;
    const spec = this.opts.compute();
    if (spec === undefined) return;
    const text = JSON.stringify(spec);
    if (text === this.applied) return;
    try {
      await this.opts.apply(spec);
      this.applied = text;
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const delay = Math.min(5000, (this.opts.retryMs ?? 200) * 2 ** (this.failures - 1));
      if (this.failures === 1 || this.failures % 10 === 0) {
        this.opts.log.error({ err: toShoalError(err).message, failures: this.failures }, `programming the cluster network failed; retrying in ${delay} ms`);
      }
      this.schedule(delay);
    }
  }
}
