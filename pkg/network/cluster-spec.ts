/**
 * The contract between the agent's view of the cluster (pkg/agent/session/cluster-view*.ts,
 * computed from the Node and Endpoints objects) and the node's cluster dataplane
 * (pkg/network/cluster-dataplane*.ts: VXLAN overlay, service VIPs, network isolation, routing
 * mesh). The agent hands the whole desired state over each time (debounced); the dataplane
 * diffs it against what it programmed and changes only what differs.
 */
import { createHash } from 'node:crypto';
import type { NetHost } from './host.js';

/** This node's tunnel endpoint and subnet. */
export interface OverlaySelf {
  nodeName: string;
  /** The node's podCIDR (its bridge subnet), e.g. `10.244.1.0/24`. */
  podCIDR: string;
  /** The underlay IPv4 address (the agent's --advertise-addr). */
  address: string;
  /** The VXLAN device's MAC (deterministic per node, so a recreated device keeps it). */
  vtepMAC: string;
  /** VXLAN UDP port (--vxlan-port, default 4789). */
  port: number;
}

/** Another node whose podCIDR is reached over the overlay. */
export interface OverlayPeer {
  nodeName: string;
  podCIDR: string;
  address: string;
  vtepMAC: string;
  port: number;
}

export interface MeshEndpoint {
  ip: string;
  taskName: string;
  nodeName: string;
}

/** One replicated or global service as every node sees it. */
export interface MeshService {
  /** `<namespace>/<name>`. */
  key: string;
  namespace: string;
  name: string;
  endpointMode: 'vip' | 'dnsrr';
  /** vip mode: any port of this address goes to the same port of one of the endpoints. */
  virtualIP?: string;
  /** Qualified network names `<namespace>/<network>`, sorted (at least the namespace's default). */
  networks: string[];
  /** Published `mode: ingress` ports: every node answers them and balances over all endpoints. */
  ingress: { protocol: 'tcp' | 'udp'; port: number; targetPort: number }[];
  /** Running tasks, sorted by ip. */
  endpoints: MeshEndpoint[];
}

export interface ClusterNetworkSpec {
  self: OverlaySelf;
  /** Every other node that has published its overlay endpoint and has a podCIDR, sorted by name. */
  peers: OverlayPeer[];
  /** Sorted by key. */
  services: MeshService[];
}

/** Counters for the agent's metrics (issue 12, operations). */
export interface DataplaneStats {
  /** Rules in Shoal's chains after the last apply. */
  rules: number;
  /** Endpoints programmed (over all services). */
  endpoints: number;
  peers: number;
  /** Duration of the last apply in ms. */
  lastApplyMs: number;
  applies: number;
  failures: number;
}

/** The node's cluster dataplane (real one over NetHost; a recording fake in tests). */
export interface ClusterDataplane {
  /** Programs the node to match `spec` (idempotent; safe to call with the same spec again). */
  apply(spec: ClusterNetworkSpec, signal?: AbortSignal): Promise<void>;
  stats(): DataplaneStats;
  /** Removes everything the dataplane made (device, routes, neighbours, FDB, rules, ipsets, ip rules). */
  teardown(): Promise<void>;
}

export interface ClusterDataplaneOptions {
  host: NetHost;
  /** Prefix of Shoal's iptables chains, ipsets and ip rules (the BridgeNetwork's, e.g. `SHOAL`). */
  chainPrefix: string;
  /** The node's default bridge (its subnet is the podCIDR), e.g. `shoal0`. */
  bridge: string;
  /** VXLAN device name (≤ 15 chars). Default `shoal-vx`. */
  vxlanDevice?: string;
  /** VXLAN network identifier. Default 4096. */
  vni?: number;
}

/**
 * The VTEP MAC of a node: locally administered, unicast, derived from the node's name, so a
 * device recreated after a restart (or on another boot) keeps the address its peers know.
 */
export function vtepMacOf(nodeName: string): string {
  const h = createHash('sha256').update(`shoal-vtep:${nodeName}`).digest();
  const b = [0x0e, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
