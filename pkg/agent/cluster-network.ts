/**
 * The agent's cluster network wiring: the node's dataplane (overlay, VIPs, isolation, routing
 * mesh; pkg/network) and the cluster DNS on the default bridge's gateway, both fed from the
 * session's ClusterNetworkSpec. Task containers on the bridge name the gateway as their only
 * nameserver once the DNS runs (the network hook asks `hasDns`).
 *
 * Nothing here is undone on shutdown but the DNS socket: routes, FDB entries and rules stay, so
 * connections through the VIPs and the overlay survive an agent restart, and the next apply
 * (from a fresh list of the store) converges them.
 */
import type { FastifyBaseLogger } from 'fastify';
import { ClusterRecords, DnsServer, upstreamNameservers, type ClusterDataplane, type ClusterNetworkSpec, type DataplaneStats } from '../network/index.js';

/** TTL of cluster answers: names follow tasks, so clients must not keep them long. */
export const CLUSTER_DNS_TTL_SECONDS = 5;

export interface ClusterNetworkOptions {
  bridge: string;
  dataplane: ClusterDataplane;
  hostResolvConf: () => string;
  log: FastifyBaseLogger;
  /** DNS port (53; tests pick another). */
  dnsPort?: number;
  onApplied?: (stats: DataplaneStats) => void;
  /** The service (`<ns>/<name>`) of a local task container with this address, if any. */
  serviceOfAddress?: (ip: string) => string | undefined;
}

export class ClusterNetwork {
  private records = new ClusterRecords();
  private dns: DnsServer | undefined;
  private dnsAddress: string | undefined;

  constructor(private readonly o: ClusterNetworkOptions) {}

  /** Whether containers of `network` should use the gateway as nameserver. */
  hasDns(network: string): boolean {
    return network === this.o.bridge && this.dns !== undefined;
  }

  /** The bridge is on its subnet with this gateway: (re)start the DNS there. */
  async bridgeReady(gateway: string): Promise<void> {
    if (this.dns !== undefined && this.dnsAddress === gateway) return;
    await this.dns?.close();
    this.dns = undefined;
    try {
      this.dns = await DnsServer.start({
        address: gateway,
        port: this.o.dnsPort ?? 53,
        lookup: (name, asker) => this.records.lookup(name, asker, this.o.serviceOfAddress?.(asker)),
        upstreams: upstreamNameservers(this.o.hostResolvConf()),
        ttlSeconds: CLUSTER_DNS_TTL_SECONDS,
        onError: (err) => this.o.log.warn({ err }, 'cluster dns'),
      });
      this.dnsAddress = gateway;
      this.o.log.info({ address: gateway }, 'cluster dns listening');
    } catch (err) {
      // Without it tasks still run; they use the host's resolvers and cannot resolve services.
      this.o.log.error({ err }, `starting the cluster dns on ${gateway} failed`);
    }
  }

  async apply(spec: ClusterNetworkSpec): Promise<void> {
    // Names first: they are cheap and useful even while the rules fail to apply.
    this.records = new ClusterRecords(spec);
    await this.o.dataplane.apply(spec);
    this.o.onApplied?.(this.o.dataplane.stats());
  }

  async close(): Promise<void> {
    await this.dns?.close();
    this.dns = undefined;
  }
}
