/** What the route plugins need: the registry, metrics, and optional collaborators. */
import type { EtcdHealth, Store } from '../../store/index.js';
import type { FastifyRequest } from 'fastify';
import type { ApiObject } from '../../api/index.js';
import type { Registry, RequestChecks } from '../registry/index.js';
import type { ClusterSecurity } from '../security/cluster-security.js';
import type { ControllerMetrics } from '../metrics.js';

/** Records node heartbeats (implemented by pkg/controller/heartbeat.ts: one etcd lease per node). */
export interface HeartbeatSink {
  beat(nodeName: string): Promise<void>;
  /** True once this controller renews the node's lease (its existence was checked then). */
  holds?(nodeName: string): boolean;
  /** The node was deleted. */
  forget?(nodeName: string): void;
}

export interface LeaderInfo {
  /** This controller's id. */
  id?: string;
  isLeader: boolean;
  /** The current leader's id, when known. */
  leader?: string;
}

export interface RouteDeps {
  store: Store;
  registry: Registry;
  metrics: ControllerMetrics;
  heartbeat?: HeartbeatSink;
  leaderInfo?: () => Promise<LeaderInfo> | LeaderInfo;
  /** A snapshot of the store (etcd's Maintenance.Snapshot); absent: `cluster/backup` answers 501. */
  snapshot?: (signal: AbortSignal) => AsyncIterable<Uint8Array>;
  /** The etcd cluster as the store's health probes see it (cluster info). */
  storeHealth?: () => EtcdHealth;
  version: string;
  /** The object-level checks of a request's identity (auth.ts), for the registry's calls. */
  checks: <T extends ApiObject>(req: FastifyRequest) => RequestChecks<T> | undefined;
  /** The cluster's security (join, renewal, tokens); absent in unit tests without TLS. */
  security?: ClusterSecurity;
  /** Who made the request, for tokens' createdBy and the audit log. */
  who: (req: FastifyRequest) => string;
}
